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
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Validate();

        int heads = configuration.Heads, kvHeads = configuration.KvHeads;
        int headDim = configuration.HeadDim, valueDim = configuration.ValueDim;
        bool keyPadding = (configuration.Mask & AttentionMask.KeyPadding) != 0;
        bool explicitMask = (configuration.Mask & AttentionMask.Explicit) != 0;
        if (!keyPadding && !keyLengths.IsEmpty)
        {
            throw new ArgumentException("keyLengths is only used with AttentionMask.KeyPadding, which this configuration does not have.", nameof(keyLengths));
        }

        if (!explicitMask && !mask.IsDefault)
        {
            throw new ArgumentException("mask is only used with AttentionMask.Explicit, which this configuration does not have.", nameof(mask));
        }

        var arguments = new AttentionArguments(query, key, value, output, batch, queryLength, keyLength, keyLengths, mask);
        AttentionValidation.ValidateForward(heads, kvHeads, headDim, valueDim, configuration.Mask, configuration.Layout, in arguments);

        var scores = new double[keyLength];
        var visible = new bool[keyLength];
        var accumulator = new double[valueDim];
        for (int b = 0; b < batch; b++)
        {
            int valid = keyPadding ? keyLengths[b] : keyLength;
            long offset = configuration.Alignment == MaskAlignment.BottomRight ? valid - queryLength : 0;
            for (int h = 0; h < heads; h++)
            {
                int kvHead = h / configuration.GroupSize;
                for (int i = 0; i < queryLength; i++)
                {
                    long position = i + offset;
                    bool anyVisible = false;
                    for (int j = 0; j < keyLength; j++)
                    {
                        visible[j] = IsVisible(configuration, j, position, valid);
                        double score = 0;
                        for (int d = 0; d < headDim; d++)
                        {
                            score += (double)query[Index(configuration.Layout, b, i, h, d, queryLength, heads, headDim)]
                                   * key[Index(configuration.Layout, b, j, kvHead, d, keyLength, kvHeads, headDim)];
                        }

                        score *= configuration.Scale;
                        if (configuration.Softcap > 0)
                        {
                            score = configuration.Softcap * Math.Tanh(score / configuration.Softcap);
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
                    }

                    Array.Clear(accumulator);
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
                            sum += p;
                            for (int d = 0; d < valueDim; d++)
                            {
                                accumulator[d] += p * value[Index(configuration.Layout, b, j, kvHead, d, keyLength, kvHeads, valueDim)];
                            }
                        }

                        for (int d = 0; d < valueDim; d++)
                        {
                            accumulator[d] /= sum;
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

    /// <summary>The structural mask rules (causal, sliding window, key padding) for key <paramref name="j"/> seen from position <paramref name="position"/>.</summary>
    private static bool IsVisible(AttentionConfiguration configuration, int j, long position, int valid)
    {
        AttentionMask mask = configuration.Mask;
        if ((mask & AttentionMask.KeyPadding) != 0 && j >= valid)
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
