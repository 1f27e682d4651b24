using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionGen.CompilerServices;

/// <summary>
/// The running state of one query row's online softmax, kept in memory between calls of a row kernel: the unnormalized
/// output accumulator (<c>valueDim</c> floats), then the running maximum and the running sum.
/// </summary>
/// <remarks>
/// A row's keys can be visited in any number of pieces, each continuing from the state the last one left, and pieces
/// visited separately (the splits of a split-KV decode) merge exactly: with <c>M = max(m₁, m₂)</c>, the merged sum is
/// <c>s₁·e^(m₁−M) + s₂·e^(m₂−M)</c> and likewise the accumulator, which is what one pass over both pieces computes.
/// </remarks>
internal static class OnlineSoftmax
{
    /// <summary>Floats in one row's state: the accumulator, the maximum and the sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int StateSize(int valueDim) => valueDim + 2;

    /// <summary>The row's running maximum, after its accumulator.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float Maximum(ref float state, int valueDim) => ref Unsafe.Add(ref state, valueDim);

    /// <summary>The row's running sum, after its maximum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float Sum(ref float state, int valueDim) => ref Unsafe.Add(ref state, valueDim + 1);

    /// <summary>Starts a row: a zero accumulator, a maximum of −infinity and a sum of 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Reset(ref float state, int valueDim)
    {
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref state, valueDim).Clear();
        Maximum(ref state, valueDim) = float.NegativeInfinity;
        Sum(ref state, valueDim) = 0f;
    }

    /// <summary>Ends a row: writes accumulator / sum to <paramref name="output"/>, or zeros when the row saw no key.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Normalize(ref float state, int valueDim, ref float output) =>
        DivideBySum(ref state, valueDim, Sum(ref state, valueDim), ref output);

    /// <summary>
    /// Merges <paramref name="count"/> consecutive partial states of one row into its normalized output. A partial that
    /// saw no key (maximum −infinity) contributes nothing; if none saw a key the output is zeros.
    /// </summary>
    public static void Merge(ReadOnlySpan<float> partials, int count, int valueDim, Span<float> output)
    {
        int size = StateSize(valueDim);
        float maximum = float.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            maximum = MathF.Max(maximum, partials[i * size + valueDim]);
        }

        output = output[..valueDim];
        output.Clear();
        if (maximum == float.NegativeInfinity)
        {
            return;
        }

        float sum = 0f;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<float> partial = partials.Slice(i * size, size);
            if (partial[valueDim] == float.NegativeInfinity)
            {
                continue;
            }

            float weight = MathF.Exp(partial[valueDim] - maximum);
            sum += partial[valueDim + 1] * weight;
            for (int d = 0; d < valueDim; d++)
            {
                output[d] += partial[d] * weight;
            }
        }

        DivideBySum(ref MemoryMarshal.GetReference(output), valueDim, sum, ref MemoryMarshal.GetReference(output));
    }

    /// <summary>
    /// <paramref name="output"/> = <paramref name="accumulator"/> / <paramref name="sum"/> (in place where they are the
    /// same), or zeros when the sum is 0 (the row saw no key): a row's last step. In vectors where they are accelerated:
    /// one float at a time it had been a third of a decoding call over a cache of one token (32 query heads of 128, on an
    /// Intel Xeon).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DivideBySum(ref float accumulator, int valueDim, float sum, ref float output)
    {
        float inverse = sum == 0f ? 0f : 1f / sum;
        int d = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; d <= valueDim - Vector<float>.Count; d += Vector<float>.Count)
            {
                (Vector.LoadUnsafe(ref accumulator, (nuint)d) * inverse).StoreUnsafe(ref output, (nuint)d);
            }
        }

        for (; d < valueDim; d++)
        {
            Unsafe.Add(ref output, d) = Unsafe.Add(ref accumulator, d) * inverse;
        }
    }
}
