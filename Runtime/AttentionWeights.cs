namespace AttentionGen;

/// <summary>
/// What an attention-weights output holds for each (batch entry, head, query row, key), as ONNX <c>Attention</c>'s
/// <c>qk_matmul_output_mode</c> defines it. The shape is always <c>[batch, Heads, queryLength, keyLength]</c>.
/// </summary>
public enum AttentionWeights
{
    /// <summary>Mode 0: the scaled scores <c>Scale · (q · k)</c>, before soft-capping and masks.</summary>
    Scores = 0,

    /// <summary>Mode 1: the scores after the soft cap (the same as <see cref="Scores"/> without one).</summary>
    SoftcappedScores = 1,

    /// <summary>
    /// Mode 2: the soft-capped scores with every mask applied: an additive mask's values added, and <c>-∞</c> for a key
    /// that a structural mask (causal, window, padding) or a boolean mask hides.
    /// </summary>
    MaskedScores = 2,

    /// <summary>Mode 3: the softmax probabilities, the weights P·V uses; all 0 in a row that sees no key. What heat maps show.</summary>
    Probabilities = 3,
}
