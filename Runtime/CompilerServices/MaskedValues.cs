using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Keeps keys that a row does not see out of its output even when their values are infinite or NaN. A row-block kernel
/// adds p · v for every key of a tile to every row of the block, and a masked key's weight p is exactly 0 there; but
/// 0 · ∞ is NaN. Such values are rare, so kernels check a tile whose rows see different keys for them, and only then
/// take the path here, which adds nothing for a weight of 0. A key a row sees can have a weight of 0 too (a score of -∞
/// from an infinite key element, or one far below the maximum): a one-row kernel looks for -∞ among a tile's scores
/// (<see cref="AnyMinusInfinity"/>), and a row block looks for NaN in its accumulators once it is done
/// (<see cref="AnyNaN"/>), computing the block again on this path if it finds any.
/// </summary>
internal static class MaskedValues
{
    /// <summary>
    /// Whether any value row of keys [<paramref name="first"/>, <paramref name="end"/>) outside
    /// [<paramref name="seenFirst"/>, <paramref name="seenEnd"/>), the keys every row of a block sees, holds an infinity
    /// or a NaN. <paramref name="values"/> is key 0's row; rows are <paramref name="stride"/> floats apart. Only the keys
    /// some row does not see can meet a weight of 0: on the causal diagonal of a block of R rows, at most R − 1 of a tile.
    /// </summary>
    public static bool AnyNonFinite(ref float values, nint stride, int dim, int first, int end, int seenFirst, int seenEnd)
    {
        int lowEnd = Math.Min(end, seenFirst), highStart = Math.Max(first, seenEnd);
        if (lowEnd >= highStart)
        {
            return AnyNonFinite(ref Unsafe.Add(ref values, first * stride), end - first, dim, stride);
        }

        return (lowEnd > first && AnyNonFinite(ref Unsafe.Add(ref values, first * stride), lowEnd - first, dim, stride))
            || (end > highStart && AnyNonFinite(ref Unsafe.Add(ref values, highStart * stride), end - highStart, dim, stride));
    }

    /// <summary>
    /// Whether any of <paramref name="count"/> rows of <paramref name="dim"/> floats, <paramref name="stride"/> apart,
    /// holds an infinity or a NaN (an all-ones exponent). Branch-free over the rows: it keeps the largest exponent field
    /// seen, lane by lane, and compares once at the end, since every tile on a causal diagonal asks.
    /// </summary>
    public static bool AnyNonFinite(ref float rows, int count, int dim, nint stride)
    {
        const int Exponent = 0x7F800000;
        int width = Vector<int>.Count;
        if (!Vector.IsHardwareAccelerated || dim < width)
        {
            int largestBits = 0;
            for (int row = 0; row < count; row++)
            {
                ref float start = ref Unsafe.Add(ref rows, row * stride);
                for (int i = 0; i < dim; i++)
                {
                    largestBits = Math.Max(largestBits, BitConverter.SingleToInt32Bits(Unsafe.Add(ref start, i)) & Exponent);
                }
            }

            return largestBits == Exponent;
        }

        // Each row in whole vectors, the last one overlapping the one before where dim is not a multiple of the width.
        var exponent = new Vector<int>(Exponent);
        Vector<int> largest = Vector<int>.Zero;
        for (int row = 0; row < count; row++)
        {
            ref int start = ref Unsafe.As<float, int>(ref Unsafe.Add(ref rows, row * stride));
            for (int i = 0; i < dim - width; i += width)
            {
                largest = Vector.Max(largest, Vector.LoadUnsafe(ref start, (nuint)i) & exponent);
            }

            largest = Vector.Max(largest, Vector.LoadUnsafe(ref start, (nuint)(dim - width)) & exponent);
        }

        return Vector.EqualsAny(largest, exponent);
    }

    /// <summary>Whether any of <paramref name="count"/> consecutive floats from <paramref name="values"/> on is NaN.</summary>
    public static bool AnyNaN(ref float values, int count) => AnyLane<IsNaN>(ref values, count);

    /// <summary>
    /// Whether any of <paramref name="count"/> consecutive scores from <paramref name="scores"/> on is -∞. Without a mask,
    /// that is a key the row sees whose weight is exactly 0 all the same (an infinite key element where the query's has
    /// the other sign, or a score that overflowed): like a masked key, it must add nothing, even to an infinite value.
    /// </summary>
    public static bool AnyMinusInfinity(ref float scores, int count) => AnyLane<IsMinusInfinity>(ref scores, count);

    /// <summary>
    /// Whether <typeparamref name="TTest"/> holds for any of <paramref name="count"/> consecutive floats: in whole vectors,
    /// the last one overlapping the one before where count is not a multiple of the width.
    /// </summary>
    private static bool AnyLane<TTest>(ref float values, int count)
        where TTest : struct, ILaneTest
    {
        int width = Vector<float>.Count;
        if (!Vector.IsHardwareAccelerated || count < width)
        {
            for (int i = 0; i < count; i++)
            {
                if (TTest.Holds(Unsafe.Add(ref values, i)))
                {
                    return true;
                }
            }

            return false;
        }

        Vector<int> found = Vector<int>.Zero;
        for (int i = 0; i < count - width; i += width)
        {
            found |= TTest.Holds(Vector.LoadUnsafe(ref values, (nuint)i));
        }

        found |= TTest.Holds(Vector.LoadUnsafe(ref values, (nuint)(count - width)));
        return found != Vector<int>.Zero;
    }

    /// <summary>A test of one float, and of a vector of them lane by lane (all ones where it holds).</summary>
    private interface ILaneTest
    {
        static abstract bool Holds(float value);

        static abstract Vector<int> Holds(Vector<float> values);
    }

    /// <summary>NaN: the one value not equal to itself.</summary>
    private readonly struct IsNaN : ILaneTest
    {
        public static bool Holds(float value) => float.IsNaN(value);

        public static Vector<int> Holds(Vector<float> values) => ~Vector.Equals(values, values);
    }

    /// <summary>-∞.</summary>
    private readonly struct IsMinusInfinity : ILaneTest
    {
        public static bool Holds(float value) => value == float.NegativeInfinity;

        public static Vector<int> Holds(Vector<float> values) => Vector.Equals(values, new Vector<float>(float.NegativeInfinity));
    }

    /// <summary>
    /// Adds P·V for <paramref name="count"/> keys to a row block's transposed accumulators, skipping every weight that is
    /// exactly 0: <c>oT[d · lanes + r] += pT[c · lanes + r] · v[c][d]</c> for each key c, lane r and value element d.
    /// </summary>
    public static void AccumulateNonZero(ref float pT, int lanes, int count, ref float values, nint valueStride, int valueDim, ref float oT)
    {
        for (int c = 0; c < count; c++)
        {
            ref float v = ref Unsafe.Add(ref values, c * valueStride);
            for (int r = 0; r < lanes; r++)
            {
                float p = Unsafe.Add(ref pT, c * lanes + r);
                if (p == 0)
                {
                    continue;
                }

                for (int d = 0; d < valueDim; d++)
                {
                    Unsafe.Add(ref oT, d * lanes + r) += p * Unsafe.Add(ref v, d);
                }
            }
        }
    }

    /// <summary>
    /// Applies one query row's explicit mask to its scores for keys [<paramref name="tileStart"/>, <paramref name="tileStart"/> +
    /// <paramref name="count"/>) of the mask's key axis, which lie <paramref name="stride"/> floats apart in
    /// <paramref name="scores"/>: 1 in a one-row kernel, the lane count in a row block. A boolean mask sets excluded keys to
    /// −∞, an additive one adds its value; keys past the mask's key axis are masked. Returns whether any key of the tile is
    /// masked, that is, whether some weight of the tile will be 0.
    /// </summary>
    /// <param name="scores">The tile's first score.</param>
    /// <param name="stride">Floats from one key's score to the next.</param>
    /// <param name="tileStart">The tile's first key, on the mask's key axis.</param>
    /// <param name="count">The tile's keys.</param>
    /// <param name="mask">The mask.</param>
    /// <param name="maskStart">Where the row's mask starts (<see cref="ExplicitMask.GetRowStart"/>).</param>
    public static bool ApplyExplicitMask(Span<float> scores, int stride, int tileStart, int count, scoped in ExplicitMask mask, int maskStart)
    {
        bool masked = false;
        if (mask.IsBoolean)
        {
            ReadOnlySpan<bool> allowed = mask.AllowedValues.Slice(maskStart, mask.KeyLength);
            for (int c = 0; c < count; c++)
            {
                int keyIndex = tileStart + c;
                if (keyIndex >= allowed.Length || !allowed[keyIndex])
                {
                    scores[c * stride] = float.NegativeInfinity;
                    masked = true;
                }
            }
        }
        else
        {
            ReadOnlySpan<float> added = mask.AdditiveValues.Slice(maskStart, mask.KeyLength);
            for (int c = 0; c < count; c++)
            {
                int keyIndex = tileStart + c;
                float score = keyIndex < added.Length ? scores[c * stride] + added[keyIndex] : float.NegativeInfinity;
                scores[c * stride] = score;
                masked |= score == float.NegativeInfinity;
            }
        }

        return masked;
    }
}
