namespace AttentionGen;

/// <summary>Memory layout of the query, key, value and output tensors (row-major, last axis contiguous).</summary>
public enum AttentionLayout
{
    /// <summary>
    /// <c>[batch, sequence, heads, dim]</c>: the heads of one token are adjacent, which is what a linear
    /// projection produces. Also the layout of ONNX's 3-D inputs <c>(B, S, H·D)</c>.
    /// </summary>
    Bshd = 0,

    /// <summary><c>[batch, heads, sequence, dim]</c>: each head's sequence is contiguous. ONNX's 4-D layout.</summary>
    Bhsd = 1,
}
