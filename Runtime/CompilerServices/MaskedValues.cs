using System;
using System.ComponentModel;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Keeps keys that a row does not see out of its output even when their values are infinite or NaN. A row-block kernel
/// adds p · v for every key of a tile to every row of the block, and a masked key's weight p is exactly 0 there; but
/// 0 · ∞ is NaN. Such values are rare, so kernels check a tile whose rows see different keys for them, and only then
/// take the path here, which adds nothing for a weight of 0. Used by generated code; not meant to be called directly.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class MaskedValues
{
    /// <summary>
    /// Whether any of <paramref name="count"/> rows of <paramref name="dim"/> floats, <paramref name="stride"/> apart,
    /// holds an infinity or a NaN (an all-ones exponent).
    /// </summary>
    public static bool AnyNonFinite(ref float rows, int count, int dim, nint stride)
    {
        const int Exponent = 0x7F800000;
        Vector128<int> exponent = Vector128.Create(Exponent);
        for (int row = 0; row < count; row++)
        {
            ref float start = ref Unsafe.Add(ref rows, row * stride);
            int i = 0;
            for (; i <= dim - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                if (Vector128.EqualsAny(Vector128.LoadUnsafe(ref start, (nuint)i).AsInt32() & exponent, exponent))
                {
                    return true;
                }
            }

            for (; i < dim; i++)
            {
                if ((BitConverter.SingleToInt32Bits(Unsafe.Add(ref start, i)) & Exponent) == Exponent)
                {
                    return true;
                }
            }
        }

        return false;
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
}
