using System;
using AttentionGen.CompilerServices;

namespace AttentionGen;

/// <summary>
/// A deliberately simple implementation of the attention semantics every generated kernel has, accumulating in
/// <see cref="double"/>. Use it to check a kernel, or as the executable definition of what a configuration means.
/// It is slow on purpose: it materializes one row of scores at a time and tests every mask rule per key.
/// </summary>
public static class ReferenceAttention
{
    /// <summary>
    /// Computes attention for <paramref name="configuration"/>, with the same argument rules as a generated
    /// <c>Forward</c> method.
    /// </summary>
    /// <param name="configuration">What to compute; a generated type's <c>Configuration</c>, or one made by hand.</param>
    /// <param name="query">Queries, <c>[batch, queryLength, Heads, HeadDim]</c> (Bshd) or <c>[batch, Heads, queryLength, HeadDim]</c> (Bhsd).</param>
    /// <param name="key">Keys, <c>[batch, keyLength, KvHeads, HeadDim]</c> or <c>[batch, KvHeads, keyLength, HeadDim]</c>.</param>
    /// <param name="value">Values, <c>[batch, keyLength, KvHeads, ValueDim]</c> or <c>[batch, KvHeads, keyLength, ValueDim]</c>.</param>
    /// <param name="output">Receives the result, <c>[batch, queryLength, Heads, ValueDim]</c> or <c>[batch, Heads, queryLength, ValueDim]</c>.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="queryLength">Query rows per batch entry.</param>
    /// <param name="keyLength">Key rows per batch entry.</param>
    /// <param name="keyLengths">With <see cref="AttentionMask.KeyPadding"/>: the valid keys of each batch entry.</param>
    /// <param name="mask">With <see cref="AttentionMask.Explicit"/>: the mask.</param>
    /// <exception cref="ArgumentException">The configuration is not valid, or an argument does not fit it.</exception>
    public static void Forward(
        AttentionConfiguration configuration,
        ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
        int batch, int queryLength, int keyLength,
        ReadOnlySpan<int> keyLengths = default, ExplicitMask mask = default)
        => Forward(configuration, query, key, value, output, batch, queryLength, keyLength, default, AttentionWeights.Probabilities, default, keyLengths, mask);

    /// <summary>
    /// Computes attention as <see cref="Forward(AttentionConfiguration, ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, int, int, ReadOnlySpan{int}, ExplicitMask)"/>
    /// does, and also writes the attention weights of every row (ONNX's <c>qk_matmul_output</c>) and each row's
    /// log-sum-exp: the definition the generated overloads with these outputs are tested against.
    /// </summary>
    /// <param name="configuration">What to compute.</param>
    /// <param name="query">Queries, in the configuration's layout.</param>
    /// <param name="key">Keys, in the configuration's layout.</param>
    /// <param name="value">Values, in the configuration's layout.</param>
    /// <param name="output">Receives the result, in the configuration's layout.</param>
    /// <param name="batch">Batch size.</param>
    /// <param name="queryLength">Query rows per batch entry.</param>
    /// <param name="keyLength">Key rows per batch entry.</param>
    /// <param name="weights">Receives <paramref name="kind"/> for each row and key, <c>[batch, Heads, queryLength, keyLength]</c>; empty to skip.</param>
    /// <param name="kind">What <paramref name="weights"/> holds.</param>
    /// <param name="logSumExp">
    /// Receives <c>log Σ exp(s_j)</c> over each row's visible keys, <c>s_j</c> the masked scores, <c>[batch, Heads, queryLength]</c>;
    /// <c>-∞</c> for a row that sees no key; empty to skip. With it, partial results over disjoint key ranges merge exactly.
    /// </param>
    /// <param name="keyLengths">With <see cref="AttentionMask.KeyPadding"/>: the valid keys of each batch entry.</param>
    /// <param name="mask">With <see cref="AttentionMask.Explicit"/>: the mask.</param>
    /// <exception cref="ArgumentException">The configuration is not valid, or an argument does not fit it.</exception>
    public static void Forward(
        AttentionConfiguration configuration,
        ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
        int batch, int queryLength, int keyLength,
        Span<float> weights, AttentionWeights kind, Span<float> logSumExp,
        ReadOnlySpan<int> keyLengths = default, ExplicitMask mask = default)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Validate();
        if (kind is < AttentionWeights.Scores or > AttentionWeights.Probabilities)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "kind must be one of the AttentionWeights values.");
        }

        bool keyPadding = (configuration.Mask & AttentionMask.KeyPadding) != 0;
        if (!keyPadding && !keyLengths.IsEmpty)
        {
            throw new ArgumentException("keyLengths is only used with AttentionMask.KeyPadding, which this configuration does not have.", nameof(keyLengths));
        }

        if ((configuration.Mask & AttentionMask.Explicit) == 0 && !mask.IsDefault)
        {
            throw new ArgumentException("mask is only used with AttentionMask.Explicit, which this configuration does not have.", nameof(mask));
        }

        var arguments = new AttentionArguments(query, key, value, output, batch, queryLength, keyLength, keyLengths, mask);
        AttentionValidation.ValidateForward(
            configuration.Heads, configuration.KvHeads, configuration.HeadDim, configuration.ValueDim, configuration.Mask, configuration.Layout, in arguments);
        AttentionValidation.ValidateWeights(weights, !weights.IsEmpty, logSumExp, !logSumExp.IsEmpty, in arguments, configuration.Heads);
        Compute(configuration, query, key, value, configuration.Layout, output, batch, queryLength, keyLength,
            keyPadding ? keyLengths : default, configuration.Alignment == MaskAlignment.BottomRight, mask, weights, kind, logSumExp);
    }

    /// <summary>
    /// Computes attention for <paramref name="configuration"/> over the keys and values in <paramref name="cache"/>, with
    /// the same argument rules and semantics as a generated <c>Forward(query, cache, output, batch, queryLength)</c>:
    /// query row <c>i</c> of entry <c>b</c> is cache token <c>cache.GetLength(b) - queryLength + i</c>.
    /// </summary>
    /// <param name="configuration">What to compute; a generated type's <c>Configuration</c>, or one made by hand.</param>
    /// <param name="query">Queries of each entry's newest tokens, in the configuration's layout.</param>
    /// <param name="cache">The keys and values.</param>
    /// <param name="output">Receives the result, in the configuration's layout.</param>
    /// <param name="batch">Batch size: the cache's Batch.</param>
    /// <param name="queryLength">Query rows per batch entry.</param>
    /// <param name="mask">With <see cref="AttentionMask.Explicit"/>: the mask; its key axis counts the cached tokens oldest first.</param>
    /// <exception cref="ArgumentException">The configuration is not valid, or an argument does not fit it.</exception>
    public static void Forward(
        AttentionConfiguration configuration, ReadOnlySpan<float> query, KvCache cache, Span<float> output, int batch, int queryLength, ExplicitMask mask = default)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Validate();
        bool explicitMask = (configuration.Mask & AttentionMask.Explicit) != 0;
        if (!explicitMask && !mask.IsDefault)
        {
            throw new ArgumentException("mask is only used with AttentionMask.Explicit, which this configuration does not have.", nameof(mask));
        }

        bool window = (configuration.Mask & AttentionMask.SlidingWindow) != 0;
        var arguments = new AttentionArguments(query, cache, output, batch, queryLength, mask);
        AttentionValidation.ValidateCachedForward(
            configuration.Heads, configuration.KvHeads, configuration.HeadDim, configuration.ValueDim, configuration.Mask, configuration.Layout,
            window ? configuration.WindowLeft : -1, in arguments);

        // The cache as dense [batch, KvHeads, longest, dim] tensors, each entry's tokens oldest first; the rest is padding
        // that each entry's length excludes.
        int longest = cache.Length, kvHeads = configuration.KvHeads;
        var keys = new float[batch * kvHeads * longest * configuration.HeadDim];
        var values = new float[batch * kvHeads * longest * configuration.ValueDim];
        var lengths = new int[batch];
        for (int b = 0; b < batch; b++)
        {
            lengths[b] = cache.GetLength(b);
            var entryKeys = new float[kvHeads * lengths[b] * configuration.HeadDim];
            var entryValues = new float[kvHeads * lengths[b] * configuration.ValueDim];
            cache.CopyKeys(b, entryKeys);
            cache.CopyValues(b, entryValues);
            for (int h = 0; h < kvHeads; h++)
            {
                entryKeys.AsSpan(h * lengths[b] * configuration.HeadDim, lengths[b] * configuration.HeadDim)
                    .CopyTo(keys.AsSpan((b * kvHeads + h) * longest * configuration.HeadDim));
                entryValues.AsSpan(h * lengths[b] * configuration.ValueDim, lengths[b] * configuration.ValueDim)
                    .CopyTo(values.AsSpan((b * kvHeads + h) * longest * configuration.ValueDim));
            }
        }

        Compute(configuration, query, keys, values, AttentionLayout.Bhsd, output, batch, queryLength, longest, lengths, bottomRight: true, mask, default, default, default);
    }

    /// <summary>
    /// The computation itself. Keys <c>j &gt;= validLengths[b]</c> are invisible (all are valid when it is empty), and with
    /// <paramref name="bottomRight"/> the query rows end at each entry's last valid key.
    /// </summary>
    private static void Compute(
        AttentionConfiguration configuration, ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, AttentionLayout keyLayout,
        Span<float> output, int batch, int queryLength, int keyLength, ReadOnlySpan<int> validLengths, bool bottomRight, ExplicitMask mask,
        Span<float> weights, AttentionWeights kind, Span<float> logSumExp)
    {
        int heads = configuration.Heads, kvHeads = configuration.KvHeads;
        int headDim = configuration.HeadDim, valueDim = configuration.ValueDim;
        bool explicitMask = (configuration.Mask & AttentionMask.Explicit) != 0;
        if (batch == 0 || queryLength == 0)
        {
            return; // nothing to write; keyLength may then be any size the (empty) spans allow
        }

        var scores = new double[keyLength];
        var visible = new bool[keyLength];
        var accumulator = new double[valueDim];
        for (int b = 0; b < batch; b++)
        {
            int valid = validLengths.IsEmpty ? keyLength : validLengths[b];
            long offset = bottomRight ? valid - queryLength : 0;
            for (int h = 0; h < heads; h++)
            {
                int kvHead = h / configuration.GroupSize;
                for (int i = 0; i < queryLength; i++)
                {
                    long position = i + offset;
                    bool anyVisible = false;
                    Span<float> rowWeights = weights.IsEmpty ? default : weights.Slice((int)((((long)b * heads + h) * queryLength + i) * keyLength), keyLength);
                    for (int j = 0; j < keyLength; j++)
                    {
                        visible[j] = IsVisible(configuration, j, position, valid);
                        double score = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            score += (double)query[Index(configuration.Layout, b, i, h, d, queryLength, heads, headDim)]
                                   * key[Index(keyLayout, b, j, kvHead, d, keyLength, kvHeads, headDim)];
                        }

                        score *= configuration.Scale;
                        if (kind == AttentionWeights.Scores && !rowWeights.IsEmpty)
                        {
                            rowWeights[j] = (float)score;
                        }

                        if (configuration.Softcap > 0)
                        {
                            score = configuration.Softcap * Math.Tanh(score / configuration.Softcap);
                        }

                        if (kind == AttentionWeights.SoftcappedScores && !rowWeights.IsEmpty)
                        {
                            rowWeights[j] = (float)score;
                        }

                        if (explicitMask && visible[j])
                        {
                            if (j >= mask.KeyLength)
                            {
                                visible[j] = false;
                            }
                            else if (mask.IsBoolean)
                            {
                                visible[j] = mask.AllowedValues[mask.GetRowStart(b, h, i) + j];
                            }
                            else
                            {
                                score += mask.AdditiveValues[mask.GetRowStart(b, h, i) + j];
                                visible[j] = !double.IsNegativeInfinity(score);
                            }
                        }

                        scores[j] = score;
                        anyVisible |= visible[j];
                        if (kind == AttentionWeights.MaskedScores && !rowWeights.IsEmpty)
                        {
                            rowWeights[j] = visible[j] ? (float)score : float.NegativeInfinity;
                        }
                    }

                    Array.Clear(accumulator);
                    if (kind == AttentionWeights.Probabilities && !rowWeights.IsEmpty)
                    {
                        rowWeights.Clear(); // a row that sees no key keeps all zeros
                    }

                    if (!logSumExp.IsEmpty)
                    {
                        logSumExp[(int)(((long)b * heads + h) * queryLength + i)] = float.NegativeInfinity;
                    }

                    if (anyVisible)
                    {
                        double max = double.NegativeInfinity;
                        for (int j = 0; j < keyLength; j++)
                        {
                            if (visible[j])
                            {
                                max = Math.Max(max, scores[j]);
                            }
                        }

                        double sum = 0;
                        for (int j = 0; j < keyLength; j++)
                        {
                            if (!visible[j])
                            {
                                continue;
                            }

                            double p = Math.Exp(scores[j] - max);
                            if (p == 0)
                            {
                                continue; // a weight of exactly 0 adds nothing, even to an infinite or NaN value
                            }

                            sum += p;
                            for (int d = 0; d < valueDim; d++)
                            {
                                accumulator[d] += p * value[Index(keyLayout, b, j, kvHead, d, keyLength, kvHeads, valueDim)];
                            }
                        }

                        for (int d = 0; d < valueDim; d++)
                        {
                            accumulator[d] /= sum;
                        }

                        if (kind == AttentionWeights.Probabilities && !rowWeights.IsEmpty)
                        {
                            for (int j = 0; j < keyLength; j++)
                            {
                                rowWeights[j] = visible[j] ? (float)(Math.Exp(scores[j] - max) / sum) : 0f;
                            }
                        }

                        if (!logSumExp.IsEmpty)
                        {
                            logSumExp[(int)(((long)b * heads + h) * queryLength + i)] = (float)(max + Math.Log(sum));
                        }
                    }

                    for (int d = 0; d < valueDim; d++)
                    {
                        output[Index(configuration.Layout, b, i, h, d, queryLength, heads, valueDim)] = (float)accumulator[d];
                    }
                }
            }
        }
    }

    /// <summary>The structural mask rules (key padding or cache length, causal, sliding window) for key <paramref name="j"/> seen from position <paramref name="position"/>.</summary>
    private static bool IsVisible(AttentionConfiguration configuration, int j, long position, int valid)
    {
        AttentionMask mask = configuration.Mask;
        if (j >= valid)
        {
            return false;
        }

        if ((mask & AttentionMask.Causal) != 0 && j > position)
        {
            return false;
        }

        if ((mask & AttentionMask.SlidingWindow) != 0 && (j < position - configuration.WindowLeft || j > position + configuration.WindowRight))
        {
            return false;
        }

        return true;
    }

    private static int Index(AttentionLayout layout, int b, int s, int h, int d, int sequence, int heads, int dim) =>
        layout == AttentionLayout.Bshd
            ? checked((((b * sequence) + s) * heads + h) * dim + d)
            : checked((((b * heads) + h) * sequence + s) * dim + d);
}
