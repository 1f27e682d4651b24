using System;
using System.Globalization;

namespace AttentionGen;

/// <summary>
/// An explicit attention mask for kernels declared with <see cref="AttentionMask.Explicit"/>: either additive
/// (a float added to each score; <c>-∞</c> excludes the key) or boolean (<see langword="true"/> means the query
/// may attend to the key), as in ONNX <c>attn_mask</c>.
/// </summary>
/// <remarks>
/// <para>
/// The mask has the shape <c>[Batch, Heads, QueryLength, KeyLength]</c> and is broadcast to
/// <c>[batch, Heads, queryLength, keyLength]</c>: each of the first three axes is either 1 (shared by every
/// index) or the full size. ONNX masks map as follows: a 2-D mask <c>(Sq, T)</c> is <c>(1, 1, Sq, T)</c>, a 3-D
/// mask <c>(H, Sq, T)</c> is <c>(1, H, Sq, T)</c>, and a 4-D mask keeps its shape.
/// </para>
/// <para>
/// As from ONNX opset 24, the key axis may be shorter than <c>keyLength</c>: the missing keys count as masked.
/// The mask is applied on top of the structural masks (causal, sliding window, key padding).
/// </para>
/// </remarks>
public readonly ref struct ExplicitMask
{
    private readonly bool _isCreated;

    private ExplicitMask(ReadOnlySpan<float> additive, ReadOnlySpan<bool> allowed, bool isBoolean, int batch, int heads, int queryLength, int keyLength)
    {
        _isCreated = true;
        AdditiveValues = additive;
        AllowedValues = allowed;
        IsBoolean = isBoolean;
        Batch = batch;
        Heads = heads;
        QueryLength = queryLength;
        KeyLength = keyLength;
    }

    /// <summary>The values added to the scores, row-major over the mask shape; empty for a boolean mask.</summary>
    public ReadOnlySpan<float> AdditiveValues { get; }

    /// <summary>Whether each key may be attended, row-major over the mask shape; empty for an additive mask.</summary>
    public ReadOnlySpan<bool> AllowedValues { get; }

    /// <summary>Whether this is a boolean mask (<see cref="AllowedValues"/>) rather than an additive one.</summary>
    public bool IsBoolean { get; }

    /// <summary>Size of the batch axis: 1 (broadcast) or the batch size.</summary>
    public int Batch { get; }

    /// <summary>Size of the head axis: 1 (broadcast) or the number of query heads.</summary>
    public int Heads { get; }

    /// <summary>Size of the query axis: 1 (broadcast) or the query length.</summary>
    public int QueryLength { get; }

    /// <summary>Size of the key axis: at most the key length; missing keys are masked.</summary>
    public int KeyLength { get; }

    /// <summary>Whether this is <see langword="default"/>, a mask that was never created.</summary>
    public bool IsDefault => !_isCreated;

    /// <summary>Creates an additive mask of shape <c>[batch, heads, queryLength, keyLength]</c>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="values"/> is shorter than the shape.</exception>
    public static ExplicitMask Additive(ReadOnlySpan<float> values, int batch, int heads, int queryLength, int keyLength)
    {
        CheckShape(values.Length, nameof(values), batch, heads, queryLength, keyLength);
        return new ExplicitMask(values, default, isBoolean: false, batch, heads, queryLength, keyLength);
    }

    /// <summary>Creates an additive mask of shape <c>[queryLength, keyLength]</c>, shared by every batch entry and head.</summary>
    public static ExplicitMask Additive(ReadOnlySpan<float> values, int queryLength, int keyLength) =>
        Additive(values, 1, 1, queryLength, keyLength);

    /// <summary>Creates a boolean mask of shape <c>[batch, heads, queryLength, keyLength]</c>; <see langword="true"/> means "may attend".</summary>
    /// <exception cref="ArgumentOutOfRangeException">A size is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="allowed"/> is shorter than the shape.</exception>
    public static ExplicitMask Boolean(ReadOnlySpan<bool> allowed, int batch, int heads, int queryLength, int keyLength)
    {
        CheckShape(allowed.Length, nameof(allowed), batch, heads, queryLength, keyLength);
        return new ExplicitMask(default, allowed, isBoolean: true, batch, heads, queryLength, keyLength);
    }

    /// <summary>Creates a boolean mask of shape <c>[queryLength, keyLength]</c>, shared by every batch entry and head.</summary>
    public static ExplicitMask Boolean(ReadOnlySpan<bool> allowed, int queryLength, int keyLength) =>
        Boolean(allowed, 1, 1, queryLength, keyLength);

    /// <summary>
    /// The index in <see cref="AdditiveValues"/> or <see cref="AllowedValues"/> of key 0 for the given batch entry,
    /// query head and query row, with broadcasting applied. The row holds <see cref="KeyLength"/> entries.
    /// </summary>
    public int GetRowStart(int batchIndex, int head, int queryIndex)
    {
        int b = Batch == 1 ? 0 : batchIndex;
        int h = Heads == 1 ? 0 : head;
        int i = QueryLength == 1 ? 0 : queryIndex;
        return (int)((((long)b * Heads + h) * QueryLength + i) * KeyLength);
    }

    private static void CheckShape(int length, string parameter, int batch, int heads, int queryLength, int keyLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfNegative(heads);
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength);
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength);

        Int128 required = CompilerServices.AttentionValidation.Elements(batch, heads, queryLength, keyLength);
        if (length < required)
        {
            throw new ArgumentException(
                string.Format(CultureInfo.InvariantCulture,
                    "The mask of shape [{0}, {1}, {2}, {3}] needs {4} elements, but {5} has {6}.",
                    batch, heads, queryLength, keyLength, required, parameter, length),
                parameter);
        }
    }
}
