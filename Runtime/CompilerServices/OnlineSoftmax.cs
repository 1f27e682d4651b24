using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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

    /// <summary>
    /// Ends a row: writes accumulator / sum to <paramref name="output"/>, or zeros when the row saw no key. In vectors of
    /// the widest accelerated width, then one float at a time: decoding a token over a short cache, one float at a time
    /// had been a third of a call's time (32 query heads of 128 over a cache of one token, on an Intel Xeon).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Normalize(ref float state, int valueDim, ref float output)
    {
        float sum = Sum(ref state, valueDim);
        float inverse = sum == 0f ? 0f : 1f / sum;
        int d = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; d <= valueDim - Vector512<float>.Count; d += Vector512<float>.Count)
            {
                (Vector512.LoadUnsafe(ref state, (nuint)d) * inverse).StoreUnsafe(ref output, (nuint)d);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; d <= valueDim - Vector256<float>.Count; d += Vector256<float>.Count)
            {
                (Vector256.LoadUnsafe(ref state, (nuint)d) * inverse).StoreUnsafe(ref output, (nuint)d);
            }
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; d <= valueDim - Vector128<float>.Count; d += Vector128<float>.Count)
            {
                (Vector128.LoadUnsafe(ref state, (nuint)d) * inverse).StoreUnsafe(ref output, (nuint)d);
            }
        }

        for (; d < valueDim; d++)
        {
            Unsafe.Add(ref output, d) = Unsafe.Add(ref state, d) * inverse;
        }
    }

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

        float inverse = sum == 0f ? 0f : 1f / sum;
        for (int d = 0; d < valueDim; d++)
        {
            output[d] *= inverse;
        }
    }
}
