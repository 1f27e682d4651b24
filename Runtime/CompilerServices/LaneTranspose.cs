using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.CompilerServices;

/// <summary>
/// Moves a row block's rows into lanes and back: the queries into [element][lane] before the tiles, the output from
/// [element][lane] into rows after them, through transposes in registers: 16 × 16 floats at a time with AVX-512 and a
/// multiple of 16 lanes, 8 × 8 with AVX and a multiple of 8 lanes, 4 × 4 with SSE or on Arm64; what is left, element by
/// element.
/// </summary>
internal static class LaneTranspose
{
    /// <summary>
    /// <c>destination[d · lanes + r] = source[min(r, rows − 1) · stride + d] · scale</c> for every lane r and element
    /// d &lt; <paramref name="length"/>: lanes past the last row repeat it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void RowsIntoLanes(ref float source, nint stride, int rows, int length, int lanes, float scale, ref float destination)
    {
        int d = 0;
        if (Avx512F.IsSupported && lanes % 16 == 0)
        {
            // Each group of 16 lanes (two where a block holds its rows in pairs of Vector512), 16 elements at a time.
            Vector512<float> s = Vector512.Create(scale);
            nuint l = (nuint)lanes;
            for (; d + 16 <= length; d += 16)
            {
                ref float first = ref Unsafe.Add(ref source, d);
                for (int g = 0; g < lanes; g += 16)
                {
                    Vector512<float> v0 = Row(ref first, stride, g, rows) * s, v1 = Row(ref first, stride, g + 1, rows) * s;
                    Vector512<float> v2 = Row(ref first, stride, g + 2, rows) * s, v3 = Row(ref first, stride, g + 3, rows) * s;
                    Vector512<float> v4 = Row(ref first, stride, g + 4, rows) * s, v5 = Row(ref first, stride, g + 5, rows) * s;
                    Vector512<float> v6 = Row(ref first, stride, g + 6, rows) * s, v7 = Row(ref first, stride, g + 7, rows) * s;
                    Vector512<float> v8 = Row(ref first, stride, g + 8, rows) * s, v9 = Row(ref first, stride, g + 9, rows) * s;
                    Vector512<float> vA = Row(ref first, stride, g + 10, rows) * s, vB = Row(ref first, stride, g + 11, rows) * s;
                    Vector512<float> vC = Row(ref first, stride, g + 12, rows) * s, vD = Row(ref first, stride, g + 13, rows) * s;
                    Vector512<float> vE = Row(ref first, stride, g + 14, rows) * s, vF = Row(ref first, stride, g + 15, rows) * s;
                    Transpose16(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref vA, ref vB, ref vC, ref vD, ref vE, ref vF);
                    ref float to = ref Unsafe.Add(ref destination, d * lanes + g);
                    v0.StoreUnsafe(ref to, 0); v1.StoreUnsafe(ref to, l); v2.StoreUnsafe(ref to, 2 * l); v3.StoreUnsafe(ref to, 3 * l);
                    v4.StoreUnsafe(ref to, 4 * l); v5.StoreUnsafe(ref to, 5 * l); v6.StoreUnsafe(ref to, 6 * l); v7.StoreUnsafe(ref to, 7 * l);
                    v8.StoreUnsafe(ref to, 8 * l); v9.StoreUnsafe(ref to, 9 * l); vA.StoreUnsafe(ref to, 10 * l); vB.StoreUnsafe(ref to, 11 * l);
                    vC.StoreUnsafe(ref to, 12 * l); vD.StoreUnsafe(ref to, 13 * l); vE.StoreUnsafe(ref to, 14 * l); vF.StoreUnsafe(ref to, 15 * l);
                }
            }
        }

        else if (Avx.IsSupported && lanes % 8 == 0)
        {
            // Each group of 8 lanes, 8 elements at a time.
            Vector256<float> s = Vector256.Create(scale);
            for (; d + 8 <= length; d += 8)
            {
                ref float first = ref Unsafe.Add(ref source, d);
                for (int g = 0; g < lanes; g += 8)
                {
                    Vector256<float> v0 = Row8(ref first, stride, g, rows) * s, v1 = Row8(ref first, stride, g + 1, rows) * s;
                    Vector256<float> v2 = Row8(ref first, stride, g + 2, rows) * s, v3 = Row8(ref first, stride, g + 3, rows) * s;
                    Vector256<float> v4 = Row8(ref first, stride, g + 4, rows) * s, v5 = Row8(ref first, stride, g + 5, rows) * s;
                    Vector256<float> v6 = Row8(ref first, stride, g + 6, rows) * s, v7 = Row8(ref first, stride, g + 7, rows) * s;
                    Transpose8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
                    ref float to = ref Unsafe.Add(ref destination, d * lanes + g);
                    nuint l = (nuint)lanes;
                    v0.StoreUnsafe(ref to, 0); v1.StoreUnsafe(ref to, l); v2.StoreUnsafe(ref to, 2 * l); v3.StoreUnsafe(ref to, 3 * l);
                    v4.StoreUnsafe(ref to, 4 * l); v5.StoreUnsafe(ref to, 5 * l); v6.StoreUnsafe(ref to, 6 * l); v7.StoreUnsafe(ref to, 7 * l);
                }
            }
        }

        else if (Vector128.IsHardwareAccelerated && lanes % 4 == 0)
        {
            // Each group of 4 lanes, 4 elements at a time: SSE without AVX, Arm64, and blocks of 4 lanes.
            Vector128<float> s = Vector128.Create(scale);
            nuint l = (nuint)lanes;
            for (; d + 4 <= length; d += 4)
            {
                ref float first = ref Unsafe.Add(ref source, d);
                for (int g = 0; g < lanes; g += 4)
                {
                    Vector128<float> v0 = Row4(ref first, stride, g, rows) * s, v1 = Row4(ref first, stride, g + 1, rows) * s;
                    Vector128<float> v2 = Row4(ref first, stride, g + 2, rows) * s, v3 = Row4(ref first, stride, g + 3, rows) * s;
                    Transpose4(ref v0, ref v1, ref v2, ref v3);
                    ref float to = ref Unsafe.Add(ref destination, d * lanes + g);
                    v0.StoreUnsafe(ref to, 0); v1.StoreUnsafe(ref to, l); v2.StoreUnsafe(ref to, 2 * l); v3.StoreUnsafe(ref to, 3 * l);
                }
            }
        }

        for (int r = 0; r < lanes; r++)
        {
            ref float row = ref Unsafe.Add(ref source, Math.Min(r, rows - 1) * stride);
            ref float lane = ref Unsafe.Add(ref destination, r);
            for (int e = d; e < length; e++)
            {
                Unsafe.Add(ref lane, e * lanes) = Unsafe.Add(ref row, e) * scale;
            }
        }
    }

    /// <summary>
    /// <c>destination[r · stride + d] = source[d · lanes + r] · factors[r]</c> for rows r &lt; <paramref name="rows"/> and
    /// elements d &lt; <paramref name="length"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void LanesIntoRows(ref float source, int lanes, int length, ref float factors, int rows, ref float destination, nint stride)
    {
        int d = 0;
        if (Avx512F.IsSupported && lanes % 16 == 0)
        {
            for (; d + 16 <= length; d += 16)
            {
                for (int g = 0; g < rows; g += 16)
                {
                    TransposeRows16(ref Unsafe.Add(ref source, d * lanes + g), (nuint)lanes, Vector512.LoadUnsafe(ref factors, (nuint)g), rows - g, ref Unsafe.Add(ref destination, g * stride + d), stride);
                }
            }
        }

        else if (Avx.IsSupported && lanes % 8 == 0)
        {
            for (; d + 8 <= length; d += 8)
            {
                for (int g = 0; g < rows; g += 8)
                {
                    TransposeRows8(ref Unsafe.Add(ref source, d * lanes + g), (nuint)lanes, Vector256.LoadUnsafe(ref factors, (nuint)g), rows - g, ref Unsafe.Add(ref destination, g * stride + d), stride);
                }
            }
        }

        else if (Vector128.IsHardwareAccelerated && lanes % 4 == 0)
        {
            for (; d + 4 <= length; d += 4)
            {
                for (int g = 0; g < rows; g += 4)
                {
                    TransposeRows4(ref Unsafe.Add(ref source, d * lanes + g), (nuint)lanes, Vector128.LoadUnsafe(ref factors, (nuint)g), rows - g, ref Unsafe.Add(ref destination, g * stride + d), stride);
                }
            }
        }

        for (int r = 0; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref destination, r * stride);
            ref float lane = ref Unsafe.Add(ref source, r);
            float factor = Unsafe.Add(ref factors, r);
            for (int e = d; e < length; e++)
            {
                Unsafe.Add(ref row, e) = Unsafe.Add(ref lane, e * lanes) * factor;
            }
        }
    }

    /// <summary>
    /// Stores the transpose of 16 × 16 floats, sixteen vectors of 16 lanes <paramref name="sourceStride"/> floats apart
    /// from <paramref name="source"/>, each lane times its factor, as the first <paramref name="rows"/> rows of 16 floats,
    /// <paramref name="stride"/> floats apart, at <paramref name="destination"/>: a block's last rows may not exist.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TransposeRows16(ref float source, nuint sourceStride, Vector512<float> factors, int rows, ref float destination, nint stride)
    {
        nuint l = sourceStride;
        Vector512<float> v0 = Vector512.LoadUnsafe(ref source, 0) * factors, v1 = Vector512.LoadUnsafe(ref source, l) * factors;
        Vector512<float> v2 = Vector512.LoadUnsafe(ref source, 2 * l) * factors, v3 = Vector512.LoadUnsafe(ref source, 3 * l) * factors;
        Vector512<float> v4 = Vector512.LoadUnsafe(ref source, 4 * l) * factors, v5 = Vector512.LoadUnsafe(ref source, 5 * l) * factors;
        Vector512<float> v6 = Vector512.LoadUnsafe(ref source, 6 * l) * factors, v7 = Vector512.LoadUnsafe(ref source, 7 * l) * factors;
        Vector512<float> v8 = Vector512.LoadUnsafe(ref source, 8 * l) * factors, v9 = Vector512.LoadUnsafe(ref source, 9 * l) * factors;
        Vector512<float> vA = Vector512.LoadUnsafe(ref source, 10 * l) * factors, vB = Vector512.LoadUnsafe(ref source, 11 * l) * factors;
        Vector512<float> vC = Vector512.LoadUnsafe(ref source, 12 * l) * factors, vD = Vector512.LoadUnsafe(ref source, 13 * l) * factors;
        Vector512<float> vE = Vector512.LoadUnsafe(ref source, 14 * l) * factors, vF = Vector512.LoadUnsafe(ref source, 15 * l) * factors;
        Transpose16(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ref v8, ref v9, ref vA, ref vB, ref vC, ref vD, ref vE, ref vF);
        StoreRows(ref destination, stride, rows, v0, v1, v2, v3, v4, v5, v6, v7, v8, v9, vA, vB, vC, vD, vE, vF);
    }

    /// <summary>
    /// Stores the transpose of 8 × 8 floats, eight vectors of 8 lanes <paramref name="sourceStride"/> floats apart from
    /// <paramref name="source"/>, each lane times its factor, as the first <paramref name="rows"/> rows of 8 floats,
    /// <paramref name="stride"/> floats apart, at <paramref name="destination"/>: a block's last rows may not exist.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TransposeRows8(ref float source, nuint sourceStride, Vector256<float> factors, int rows, ref float destination, nint stride)
    {
        // One pointer walks the vectors and one the rows: eight offsets kept apart would take eight registers.
        ref float from = ref source;
        Vector256<float> v0 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v1 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v3 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v4 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v5 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v6 = Vector256.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector256<float> v7 = Vector256.LoadUnsafe(ref from) * factors;
        Transpose8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
        ref float to = ref destination;
        v0.StoreUnsafe(ref to);
        if (rows > 1) { to = ref Unsafe.Add(ref to, stride); v1.StoreUnsafe(ref to); }
        if (rows > 2) { to = ref Unsafe.Add(ref to, stride); v2.StoreUnsafe(ref to); }
        if (rows > 3) { to = ref Unsafe.Add(ref to, stride); v3.StoreUnsafe(ref to); }
        if (rows > 4) { to = ref Unsafe.Add(ref to, stride); v4.StoreUnsafe(ref to); }
        if (rows > 5) { to = ref Unsafe.Add(ref to, stride); v5.StoreUnsafe(ref to); }
        if (rows > 6) { to = ref Unsafe.Add(ref to, stride); v6.StoreUnsafe(ref to); }
        if (rows > 7) { to = ref Unsafe.Add(ref to, stride); v7.StoreUnsafe(ref to); }
    }

    /// <summary><see cref="TransposeRows8"/> for 4 × 4 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TransposeRows4(ref float source, nuint sourceStride, Vector128<float> factors, int rows, ref float destination, nint stride)
    {
        ref float from = ref source;
        Vector128<float> v0 = Vector128.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector128<float> v1 = Vector128.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector128<float> v2 = Vector128.LoadUnsafe(ref from) * factors; from = ref Unsafe.Add(ref from, sourceStride);
        Vector128<float> v3 = Vector128.LoadUnsafe(ref from) * factors;
        Transpose4(ref v0, ref v1, ref v2, ref v3);
        ref float to = ref destination;
        v0.StoreUnsafe(ref to);
        if (rows > 1) { to = ref Unsafe.Add(ref to, stride); v1.StoreUnsafe(ref to); }
        if (rows > 2) { to = ref Unsafe.Add(ref to, stride); v2.StoreUnsafe(ref to); }
        if (rows > 3) { to = ref Unsafe.Add(ref to, stride); v3.StoreUnsafe(ref to); }
    }

    /// <summary>
    /// Stores the first <paramref name="rows"/> of sixteen vectors as rows <paramref name="stride"/> floats apart from
    /// <paramref name="destination"/>: a block's last rows may not exist.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRows(
        ref float destination, nint stride, int rows,
        Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3, Vector512<float> v4, Vector512<float> v5, Vector512<float> v6, Vector512<float> v7,
        Vector512<float> v8, Vector512<float> v9, Vector512<float> vA, Vector512<float> vB, Vector512<float> vC, Vector512<float> vD, Vector512<float> vE, Vector512<float> vF)
    {
        nint s = stride;
        v0.StoreUnsafe(ref destination);
        if (rows > 1) { v1.StoreUnsafe(ref Unsafe.Add(ref destination, s)); }
        if (rows > 2) { v2.StoreUnsafe(ref Unsafe.Add(ref destination, 2 * s)); }
        if (rows > 3) { v3.StoreUnsafe(ref Unsafe.Add(ref destination, 3 * s)); }
        if (rows > 4) { v4.StoreUnsafe(ref Unsafe.Add(ref destination, 4 * s)); }
        if (rows > 5) { v5.StoreUnsafe(ref Unsafe.Add(ref destination, 5 * s)); }
        if (rows > 6) { v6.StoreUnsafe(ref Unsafe.Add(ref destination, 6 * s)); }
        if (rows > 7) { v7.StoreUnsafe(ref Unsafe.Add(ref destination, 7 * s)); }
        if (rows > 8) { v8.StoreUnsafe(ref Unsafe.Add(ref destination, 8 * s)); }
        if (rows > 9) { v9.StoreUnsafe(ref Unsafe.Add(ref destination, 9 * s)); }
        if (rows > 10) { vA.StoreUnsafe(ref Unsafe.Add(ref destination, 10 * s)); }
        if (rows > 11) { vB.StoreUnsafe(ref Unsafe.Add(ref destination, 11 * s)); }
        if (rows > 12) { vC.StoreUnsafe(ref Unsafe.Add(ref destination, 12 * s)); }
        if (rows > 13) { vD.StoreUnsafe(ref Unsafe.Add(ref destination, 13 * s)); }
        if (rows > 14) { vE.StoreUnsafe(ref Unsafe.Add(ref destination, 14 * s)); }
        if (rows > 15) { vF.StoreUnsafe(ref Unsafe.Add(ref destination, 15 * s)); }
    }

    /// <summary>
    /// Transposes the 16 × 16 floats of sixteen vectors in place, vector i becoming lane i of each: four rounds of
    /// two-source permutes, which swap the off-diagonal blocks of size 8, 4, 2 and 1.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16(
        ref Vector512<float> v0, ref Vector512<float> v1, ref Vector512<float> v2, ref Vector512<float> v3, ref Vector512<float> v4, ref Vector512<float> v5,
        ref Vector512<float> v6, ref Vector512<float> v7, ref Vector512<float> v8, ref Vector512<float> v9, ref Vector512<float> vA, ref Vector512<float> vB,
        ref Vector512<float> vC, ref Vector512<float> vD, ref Vector512<float> vE, ref Vector512<float> vF)
    {
        // The permute indices of the round of size w, indices 16–31 selecting from b:
        //   a' = (j & w) == 0 ? a[j] : b[j − w],    b' = (j & w) == 0 ? a[j + w] : b[j],
        // so the two vectors exchange their off-diagonal blocks. Constants, not static fields: the methods that inline
        // this are compiled fully optimized on first use, possibly before the class's static constructor has run, and a
        // static field then costs a call to the runtime's static-base helper on a path inside their loops, across which
        // the JIT kept all sixteen vectors on the stack.
        Vector512<int> a8 = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        Vector512<int> b8 = Vector512.Create(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        Vector512<int> a4 = Vector512.Create(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
        Vector512<int> b4 = Vector512.Create(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
        Vector512<int> a2 = Vector512.Create(0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
        Vector512<int> b2 = Vector512.Create(2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
        Vector512<int> a1 = Vector512.Create(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
        Vector512<int> b1 = Vector512.Create(1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
        Swap(ref v0, ref v8, a8, b8); Swap(ref v1, ref v9, a8, b8); Swap(ref v2, ref vA, a8, b8); Swap(ref v3, ref vB, a8, b8);
        Swap(ref v4, ref vC, a8, b8); Swap(ref v5, ref vD, a8, b8); Swap(ref v6, ref vE, a8, b8); Swap(ref v7, ref vF, a8, b8);
        Swap(ref v0, ref v4, a4, b4); Swap(ref v1, ref v5, a4, b4); Swap(ref v2, ref v6, a4, b4); Swap(ref v3, ref v7, a4, b4);
        Swap(ref v8, ref vC, a4, b4); Swap(ref v9, ref vD, a4, b4); Swap(ref vA, ref vE, a4, b4); Swap(ref vB, ref vF, a4, b4);
        Swap(ref v0, ref v2, a2, b2); Swap(ref v1, ref v3, a2, b2); Swap(ref v4, ref v6, a2, b2); Swap(ref v5, ref v7, a2, b2);
        Swap(ref v8, ref vA, a2, b2); Swap(ref v9, ref vB, a2, b2); Swap(ref vC, ref vE, a2, b2); Swap(ref vD, ref vF, a2, b2);
        Swap(ref v0, ref v1, a1, b1); Swap(ref v2, ref v3, a1, b1); Swap(ref v4, ref v5, a1, b1); Swap(ref v6, ref v7, a1, b1);
        Swap(ref v8, ref v9, a1, b1); Swap(ref vA, ref vB, a1, b1); Swap(ref vC, ref vD, a1, b1); Swap(ref vE, ref vF, a1, b1);
    }

    /// <summary>Transposes the 8 × 8 floats of eight vectors in place: unpack, shuffle, then exchange the 128-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(
        ref Vector256<float> v0, ref Vector256<float> v1, ref Vector256<float> v2, ref Vector256<float> v3,
        ref Vector256<float> v4, ref Vector256<float> v5, ref Vector256<float> v6, ref Vector256<float> v7)
    {
        Vector256<float> t0 = Avx.UnpackLow(v0, v1), t1 = Avx.UnpackHigh(v0, v1), t2 = Avx.UnpackLow(v2, v3), t3 = Avx.UnpackHigh(v2, v3);
        Vector256<float> t4 = Avx.UnpackLow(v4, v5), t5 = Avx.UnpackHigh(v4, v5), t6 = Avx.UnpackLow(v6, v7), t7 = Avx.UnpackHigh(v6, v7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        v0 = Avx.Permute2x128(u0, u4, 0x20); v1 = Avx.Permute2x128(u1, u5, 0x20); v2 = Avx.Permute2x128(u2, u6, 0x20); v3 = Avx.Permute2x128(u3, u7, 0x20);
        v4 = Avx.Permute2x128(u0, u4, 0x31); v5 = Avx.Permute2x128(u1, u5, 0x31); v6 = Avx.Permute2x128(u2, u6, 0x31); v7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>Eight elements of row <paramref name="r"/> of a block's rows <paramref name="stride"/> apart, the last row where r is past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Row8(ref float first, nint stride, int r, int rows) =>
        Vector256.LoadUnsafe(ref Unsafe.Add(ref first, Math.Min(r, rows - 1) * stride));

    /// <summary>
    /// Transposes the 4 × 4 floats of four vectors in place: pairs of rows interleaved element by element, then the
    /// results' 64-bit halves interleaved. Each step is one instruction on x64 (<c>unpcklps</c>, <c>unpckhps</c>,
    /// <c>movlhps</c>, <c>movhlps</c>) and on Arm64 (<c>zip1</c>, <c>zip2</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Transpose4(ref Vector128<float> v0, ref Vector128<float> v1, ref Vector128<float> v2, ref Vector128<float> v3)
    {
        // t0 = a0 b0 a1 b1, t1 = a2 b2 a3 b3, t2 = c0 d0 c1 d1, t3 = c2 d2 c3 d3.
        Vector128<float> t0 = ZipLow(v0, v1), t1 = ZipHigh(v0, v1), t2 = ZipLow(v2, v3), t3 = ZipHigh(v2, v3);
        v0 = ZipLowHalves(t0, t2);
        v1 = ZipHighHalves(t0, t2);
        v2 = ZipLowHalves(t1, t3);
        v3 = ZipHighHalves(t1, t3);
    }

    /// <summary>a0 b0 a1 b1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ZipLow(Vector128<float> a, Vector128<float> b) =>
        Sse.IsSupported ? Sse.UnpackLow(a, b)
        : AdvSimd.Arm64.IsSupported ? AdvSimd.Arm64.ZipLow(a, b)
        : Vector128.Create(a.GetElement(0), b.GetElement(0), a.GetElement(1), b.GetElement(1));

    /// <summary>a2 b2 a3 b3.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ZipHigh(Vector128<float> a, Vector128<float> b) =>
        Sse.IsSupported ? Sse.UnpackHigh(a, b)
        : AdvSimd.Arm64.IsSupported ? AdvSimd.Arm64.ZipHigh(a, b)
        : Vector128.Create(a.GetElement(2), b.GetElement(2), a.GetElement(3), b.GetElement(3));

    /// <summary>a0 a1 b0 b1: the low halves of both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ZipLowHalves(Vector128<float> a, Vector128<float> b) =>
        Sse.IsSupported ? Sse.MoveLowToHigh(a, b)
        : AdvSimd.Arm64.IsSupported ? AdvSimd.Arm64.ZipLow(a.AsUInt64(), b.AsUInt64()).AsSingle()
        : Vector128.Create(a.GetLower(), b.GetLower());

    /// <summary>a2 a3 b2 b3: the high halves of both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> ZipHighHalves(Vector128<float> a, Vector128<float> b) =>
        Sse.IsSupported ? Sse.MoveHighToLow(b, a)
        : AdvSimd.Arm64.IsSupported ? AdvSimd.Arm64.ZipHigh(a.AsUInt64(), b.AsUInt64()).AsSingle()
        : Vector128.Create(a.GetUpper(), b.GetUpper());

    /// <summary>Four elements of row <paramref name="r"/> of a block's rows <paramref name="stride"/> apart, the last row where r is past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Row4(ref float first, nint stride, int r, int rows) =>
        Vector128.LoadUnsafe(ref Unsafe.Add(ref first, Math.Min(r, rows - 1) * stride));

    /// <summary>Row <paramref name="r"/> of a block's rows <paramref name="stride"/> apart, the last row where r is past it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(ref float first, nint stride, int r, int rows) =>
        Vector512.LoadUnsafe(ref Unsafe.Add(ref first, Math.Min(r, rows - 1) * stride));

    /// <summary>One round of the transpose: a and b exchange the elements the index vectors say (16–31 select from b).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Swap(ref Vector512<float> a, ref Vector512<float> b, Vector512<int> forA, Vector512<int> forB)
    {
        Vector512<float> newA = Avx512F.PermuteVar16x32x2(a, forA, b);
        b = Avx512F.PermuteVar16x32x2(a, forB, b);
        a = newA;
    }
}
