using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.CompilerServices;

/// <summary>Vector math shared by generated kernels.</summary>
internal static class KernelMath
{
    /// <summary>Copies <paramref name="count"/> consecutive floats into every <paramref name="stride"/>-th float of <paramref name="destination"/>: a row into a column.</summary>
    public static void CopyColumn(ref float source, int count, ref float destination, int stride)
    {
        for (int k = 0; k < count; k++)
        {
            Unsafe.Add(ref destination, (nint)k * stride) = Unsafe.Add(ref source, k);
        }
    }

    /// <summary>Zeroes every <paramref name="stride"/>-th float of <paramref name="destination"/>, <paramref name="count"/> of them.</summary>
    public static void ClearColumn(int count, ref float destination, int stride)
    {
        for (int k = 0; k < count; k++)
        {
            Unsafe.Add(ref destination, (nint)k * stride) = 0;
        }
    }

    /// <summary>
    /// Copies <paramref name="rows"/> rows of <paramref name="length"/> floats, <paramref name="sourceStride"/> apart, into
    /// consecutive rows at <paramref name="destination"/>. Kernels pack key and value rows that lie a multiple of 4 KiB
    /// apart (heads interleaved in the Bshd layout), which would otherwise compete for the same L1 cache sets.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyRows(ref float source, nint sourceStride, ref float destination, int rows, int length)
    {
        // Each row in the widest vectors it fills; rows shorter than a Vector128 go element by element. Inlined with a
        // constant length, only one of these branches remains.
        for (int row = 0; row < rows; row++)
        {
            ref float from = ref Unsafe.Add(ref source, row * sourceStride);
            ref float to = ref Unsafe.Add(ref destination, row * length);
            if (Vector512.IsHardwareAccelerated && length >= Vector512<float>.Count)
            {
                CopyRow<Simd512, Vector512<float>>(ref from, ref to, length);
            }
            else if (Vector256.IsHardwareAccelerated && length >= Vector256<float>.Count)
            {
                CopyRow<Simd256, Vector256<float>>(ref from, ref to, length);
            }
            else if (Vector128.IsHardwareAccelerated && length >= Vector128<float>.Count)
            {
                CopyRow<Simd128, Vector128<float>>(ref from, ref to, length);
            }
            else
            {
                for (int i = 0; i < length; i++)
                {
                    Unsafe.Add(ref to, i) = Unsafe.Add(ref from, i);
                }
            }
        }
    }

    /// <summary>
    /// Copies <paramref name="length"/> floats, at least one vector: whole vectors, then one last vector that ends at the
    /// row's end and overlaps the one before (the source and destination rows do not overlap).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow<TSimd, TVector>(ref float from, ref float to, int length)
        where TSimd : struct, ISimd<TVector>
        where TVector : struct
    {
        int i = 0;
        for (; i <= length - TSimd.Count; i += TSimd.Count)
        {
            TSimd.Store(TSimd.Load(ref from, (nuint)i), ref to, (nuint)i);
        }

        if (i < length)
        {
            TSimd.Store(TSimd.Load(ref from, (nuint)(length - TSimd.Count)), ref to, (nuint)(length - TSimd.Count));
        }
    }

    /// <summary>
    /// Whether the decoding kernels ask for the cache's rows ahead of the ones they compute, as they stream it from memory:
    /// on Intel cores, whose prefetchers fell behind those streams. There the one-row kernels prefetch the keys and values
    /// <see cref="KernelTiles.PrefetchKeys"/> keys ahead into L1, and they and the group kernels also
    /// <see cref="KernelTiles.PrefetchFarKeys"/> keys ahead into L2 (<see cref="PrefetchToL2"/>). On an Intel Xeon
    /// (family 6 model 207, AVX-512), a Stopwatch probe alternating with and without the L1 hints in one process decoded
    /// 8 heads of 128 over a Half cache of 32768 tokens 1.25 times as fast on one thread and 1.34 times on two, over 4096
    /// tokens 1.12 times, and over a Single cache 3–4% faster; over 512 tokens, in cache, it moved nothing.
    /// BenchmarkDotNet runs of the two builds, two each, put the Half cases at 1.20–1.32 times and the Single ones at
    /// 1.04–1.08 times as fast (docs/PERFORMANCE.md). With the JIT held to AVX2 (a head of 128 is sixteen vectors there)
    /// the same hints made the Half calls 1.25 times as fast, and on Vector128 1.27 times. On Zen 5, hints of this kind
    /// (keys 4 to 32 ahead in the score loop) made multi-head decoding 5–30% slower, and on Zen 4 (family 25 model 17)
    /// these very hints made it from memory 0.80 times as fast over a Single cache and 0.89 times over a Half one, while
    /// the group kernels' L2 hints moved grouped-query decoding by 0.87–1.11 times, within that host's spread
    /// (BenchmarkDotNet, docs/PERFORMANCE.md, 2026-12-07). So on AMD cores, and on Arm64, which has no hint in .NET, the
    /// one-row kernels leave the streams to the hardware, and the group kernels keep their L1 hints alone
    /// (<see cref="KernelTiles.PrefetchKeys"/>, measured on Zen 5; without them, grouped-query decoding ran 0.53–0.89
    /// times as fast on Zen 4).
    /// </summary>
    public static readonly bool PrefetchRowStreams = IsIntel();

    /// <summary>Whether the processor's CPUID vendor is "GenuineIntel".</summary>
    private static bool IsIntel()
    {
        if (!X86Base.IsSupported)
        {
            return false;
        }

        // The vendor string's 12 bytes come in EBX, EDX, ECX: "Genu", "ineI", "ntel".
        (_, int ebx, int ecx, int edx) = X86Base.CpuId(0, 0);
        return ebx == 0x756E6547 && edx == 0x49656E69 && ecx == 0x6C65746E;
    }

    /// <summary>
    /// Asks for <paramref name="elements"/> consecutive elements from <paramref name="first"/> on to be brought into the
    /// L1 cache ahead of their use, one line per loop iteration, where the instruction set has a prefetch (x86; .NET has
    /// none for Arm64). A hint never faults: it may run past the end of the data, and where the memory is a managed
    /// array the collector moves meanwhile, it only fetches a line nobody reads.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch<TElement>(ref TElement first, int elements)
        where TElement : unmanaged => PrefetchLines(ref first, elements, intoL2: false);

    /// <summary>
    /// <see cref="Prefetch{TElement}"/> into L2 rather than L1 (<c>prefetcht1</c>), for lines wanted well ahead of their
    /// use: brought into L1 that early, they would take its room from the lines in use.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchToL2<TElement>(ref TElement first, int elements)
        where TElement : unmanaged => PrefetchLines(ref first, elements, intoL2: true);

    /// <summary>
    /// One hint per line of the elements; <paramref name="intoL2"/> is a constant at every call, so each inlines to one kind.
    /// The loop stays a loop on purpose. The JIT does not unroll it, and its own instructions space the hints out: issued
    /// back to back, they made grouped-query decoding 10–15% slower (<see cref="KernelTiles.PrefetchKeys"/>), and an
    /// unrolled form, tried again on Zen 4 with the JIT held to AVX2 (two instructions per line rather than six), ran
    /// decoding over a Single cache of 4096 tokens slower in a probe, not faster. Nor did spreading a group's key hints
    /// over its loop over the head help (one line of each key per step, no loop of their own; tried on Zen 4 with
    /// AVX-512): grouped-query decoding over a Half cache of 4096 tokens ran 1–6% faster, over a Single one 1.3–2.1 times
    /// slower, in a probe alternating both builds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchLines<TElement>(ref TElement first, int elements, bool intoL2)
        where TElement : unmanaged
    {
        if (Sse.IsSupported)
        {
            byte* address = (byte*)Unsafe.AsPointer(ref first);
            for (int offset = 0; offset < elements * sizeof(TElement); offset += 64)
            {
                if (intoL2)
                {
                    Sse.Prefetch1(address + offset);
                }
                else
                {
                    Sse.Prefetch0(address + offset);
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Prefetch{TElement}"/> for <paramref name="rows"/> rows of <paramref name="length"/> elements,
    /// <paramref name="stride"/> elements apart: every line of them requested at once, before any is read; into L2
    /// rather than L1 with <paramref name="intoL2"/> (<see cref="PrefetchToL2"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchRows<TElement>(ref TElement first, nint stride, int rows, int length, bool intoL2 = false)
        where TElement : unmanaged
    {
        if (!Sse.IsSupported)
        {
            // No hint to give (Arm64): not even the loop over the rows.
            return;
        }

        for (int r = 0; r < rows; r++)
        {
            PrefetchLines(ref Unsafe.Add(ref first, r * stride), length, intoL2);
        }
    }

    /// <summary>
    /// The hints a decoding kernel gives on Intel cores (<see cref="PrefetchRowStreams"/>) as it reaches row
    /// <paramref name="row"/> of a stream of rows <paramref name="stride"/> elements apart: the row
    /// <see cref="KernelTiles.PrefetchKeys"/> rows ahead into L1, and the one <see cref="KernelTiles.PrefetchFarKeys"/>
    /// ahead into L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void PrefetchAhead<TElement>(ref TElement row, nint stride, int length)
        where TElement : unmanaged
    {
        Prefetch(ref Unsafe.Add(ref row, KernelTiles.PrefetchKeys * stride), length);
        PrefetchToL2(ref Unsafe.Add(ref row, KernelTiles.PrefetchFarKeys * stride), length);
    }

    /// <summary>
    /// Widens <paramref name="count"/> finite IEEE half-precision values, given as their bits, to floats: exactly, for
    /// every finite half, subnormals included. Infinities and NaN would come out as finite garbage, which is why a Half
    /// <see cref="KvCache"/> stores finite values only.
    /// </summary>
    /// <remarks>
    /// Four operations per lane: widen with sign extension, shift left by 13 (which puts the sign at bit 31 and the
    /// exponent and fraction where a float has them, with copies of the sign in bits 28 to 30), clear those copies, and
    /// multiply by 2^112 to rebias the exponent, which also normalizes subnormals. x64 has one instruction for this
    /// (<c>vcvtph2ps</c>, F16C), but .NET 10 exposes no intrinsic for it: none of System.Runtime.Intrinsics.X86's
    /// conversions to Single takes halves.
    /// </remarks>
    public static void WidenFiniteHalf(ref ushort source, ref float destination, int count)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= count - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                (LoadHalfBits512(ref source, (nuint)i) * HalfRebias).StoreUnsafe(ref destination, (nuint)i);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= count - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                (LoadHalfBits256(ref source, (nuint)i) * HalfRebias).StoreUnsafe(ref destination, (nuint)i);
            }
        }

        if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= count - Vector128<float>.Count; i += Vector128<float>.Count)
            {
                (LoadHalfBits128(ref source, (nuint)i) * HalfRebias).StoreUnsafe(ref destination, (nuint)i);
            }
        }

        for (; i < count; i++)
        {
            Unsafe.Add(ref destination, i) = (float)System.BitConverter.UInt16BitsToHalf(Unsafe.Add(ref source, i));
        }
    }

    /// <summary>
    /// 2^112, the factor between a finite half and its bits loaded by <see cref="LoadHalfBits512"/> and its narrower twins:
    /// a kernel that multiplies its query and its probabilities by it gets exact products from the bits alone.
    /// </summary>
    public const float HalfRebias = 5.192296858534828e33f;

    /// <summary>
    /// Loads 16 finite halves as floats 2^-112 times their value (see <see cref="WidenFiniteHalf"/>): three operations per
    /// lane, the multiply left to the caller, who folds <see cref="HalfRebias"/> into a factor it applies anyway.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadHalfBits512(ref ushort source, nuint offset)
    {
        Vector256<short> halves = Vector256.LoadUnsafe(ref Unsafe.As<ushort, short>(ref source), offset);

        // The widening takes its load as an operand (vpmovsxwd zmm, m256) only from the intrinsic; the portable form
        // loads first, one more instruction per vector.
        Vector512<int> widened = Avx512BW.IsSupported ? Avx512BW.ConvertToVector512Int32(halves) : Vector512.WidenLower(halves.ToVector512Unsafe());
        return (widened << 13 & Vector512.Create(FiniteHalfMask)).AsSingle();
    }

    /// <summary>Loads 8 finite halves as floats 2^-112 times their value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadHalfBits256(ref ushort source, nuint offset)
    {
        // As in LoadHalfBits512: vpmovsxwd ymm, m128 from the intrinsic.
        Vector128<short> halves = Vector128.LoadUnsafe(ref Unsafe.As<ushort, short>(ref source), offset);
        Vector256<int> widened = Avx2.IsSupported ? Avx2.ConvertToVector256Int32(halves) : Vector256.WidenLower(halves.ToVector256Unsafe());
        return (widened << 13 & Vector256.Create(FiniteHalfMask)).AsSingle();
    }

    /// <summary>
    /// Loads 4 finite halves as floats 2^-112 times their value. On Arm64 the widening and the shift are one instruction
    /// (<c>sshll</c>) after a 64-bit load (<c>ldr d</c>): three instructions, where the portable form compiles to six
    /// (the JIT builds the 64-bit vector from a general register).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadHalfBits128(ref ushort source, nuint offset)
    {
        if (AdvSimd.IsSupported)
        {
            return (AdvSimd.ShiftLeftLogicalWideningLower(Vector64.LoadUnsafe(ref Unsafe.As<ushort, short>(ref source), offset), 13)
                & Vector128.Create(FiniteHalfMask)).AsSingle();
        }

        return ((Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<long>(ref Unsafe.As<ushort, byte>(ref Unsafe.Add(ref source, offset)))).AsInt16()) << 13)
            & Vector128.Create(FiniteHalfMask)).AsSingle();
    }

    /// <summary>
    /// Rounds each float of <paramref name="source"/> to the nearest half (ties to even) into <paramref name="destination"/>,
    /// saturating: a value beyond ±65504, the largest finite half, is stored as ±65504, never as an infinity. The
    /// caller rejects infinities and NaN (<see cref="IndexOfNonFinite"/>).
    /// </summary>
    /// <remarks>
    /// Two <see cref="Vector{T}"/> at a time where it is accelerated (16 floats with AVX2 or AVX-512, 8 with SSE or
    /// NEON), with the conversion of the FP16 library (Maratyszcza): the rounding is left to one float addition whose
    /// exponent puts the half's last fraction bit at the float's last, so each result is the one a cast gives, subnormal
    /// halves included; the runtime tests compare them bit for bit over a sweep of every finite float's exponent. One
    /// float at a time a cast took about 6 ns per value, which made appending a token's keys and values to a Half cache
    /// 10 times as slow as to a Single one.
    /// </remarks>
    public static void NarrowToHalf(System.ReadOnlySpan<float> source, System.Span<System.Half> destination)
    {
        int count = source.Length;
        destination = destination[..count];
        ref float from = ref MemoryMarshal.GetReference(source);
        ref ushort to = ref Unsafe.As<System.Half, ushort>(ref MemoryMarshal.GetReference(destination));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= count - 2 * Vector<float>.Count; i += 2 * Vector<float>.Count)
            {
                Vector<uint> low = HalfBits(Vector.LoadUnsafe(ref from, (nuint)i));
                Vector<uint> high = HalfBits(Vector.LoadUnsafe(ref from, (nuint)(i + Vector<float>.Count)));
                Vector.Narrow(low, high).StoreUnsafe(ref to, (nuint)i);
            }
        }

        for (; i < count; i++)
        {
            destination[i] = (System.Half)System.Math.Clamp(Unsafe.Add(ref from, i), -65504f, 65504f);
        }
    }

    /// <summary>
    /// The bits of the half nearest each float (ties to even), saturated at ±65504, in the low 16 bits of each lane; the
    /// floats are finite. See <see cref="NarrowToHalf"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> HalfBits(Vector<float> x)
    {
        // As fp16_ieee_from_fp32_value of the FP16 library (Maratyszcza), for finite values within the half range: adding
        // 2^(e + 15), e the exponent of x but at least -14 (the smallest normal half's), to 4·|x| leaves the float
        // addition to round 4·|x| to a multiple of 2^(e - 8), that is |x| to the half's precision at e, ties to even.
        // The sum's bits then hold the half's fraction (and its carry) in the low 13, and the half's exponent, biased by
        // 15, in the low five of the exponent; shifted into place and added, they make the half's magnitude.
        x = Vector.MinNative(new Vector<float>(65504f), Vector.MaxNative(new Vector<float>(-65504f), x));
        Vector<uint> bits = Vector.AsVectorUInt32(x);
        Vector<uint> twice = bits + bits; // the exponent in the top byte, the sign shifted out
        Vector<float> scaled = Vector.Abs(x) * 4f;
        Vector<uint> bias = Vector.Max(twice & new Vector<uint>(0xFF000000u), new Vector<uint>(0x71000000u));
        Vector<uint> rounded = Vector.AsVectorUInt32(Vector.AsVectorSingle((bias >> 1) + new Vector<uint>(0x07800000u)) + scaled);
        Vector<uint> magnitude = ((rounded >> 13) & new Vector<uint>(0x7C00u)) + (rounded & new Vector<uint>(0x0FFFu));
        return ((bits & new Vector<uint>(0x80000000u)) >> 16) | magnitude;
    }

    /// <summary>The index of the first infinity or NaN in <paramref name="values"/>, or -1 when every value is finite.</summary>
    public static int IndexOfNonFinite(System.ReadOnlySpan<float> values)
    {
        ref float start = ref MemoryMarshal.GetReference(values);
        if (MaskedValues.AnyNonFinite(ref start, 1, values.Length, 0))
        {
            for (int i = 0; i < values.Length; i++)
            {
                if (!float.IsFinite(values[i]))
                {
                    return i;
                }
            }
        }

        return -1;
    }

    /// <summary>The sign bit and the 15 exponent and fraction bits of a half, once shifted left by 13.</summary>
    private const int FiniteHalfMask = unchecked((int)0x8FFF_E000);

    /// <summary>
    /// The sum of the lanes of <paramref name="vector"/>, halving the width at each step: about 8 operations for a
    /// Vector512, where <see cref="Vector512.Sum{T}(Vector512{T})"/> reduces each 128-bit lane on its own (about 20 on
    /// .NET 10). The one-row kernels take one such sum per score.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector512<float> vector) => SumAcross(vector.GetLower() + vector.GetUpper());

    /// <inheritdoc cref="SumAcross(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector256<float> vector) => SumAcross(vector.GetLower() + vector.GetUpper());

    /// <inheritdoc cref="SumAcross(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector128<float> vector)
    {
        Vector128<float> pairs = vector + Vector128.Shuffle(vector, Vector128.Create(2, 3, 0, 1));
        return (pairs + Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    /// <summary>
    /// The sums of the lanes of four vectors, as the four lanes of one: four unpacks, two moves and three adds on x64
    /// (two pairwise adds on Arm64), where four <see cref="SumAcross(Vector128{float})"/> take sixteen operations. The group
    /// kernels take one per four scores (<see cref="ISimd{TVector}.SumAcross4"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        if (Sse.IsSupported)
        {
            Vector128<float> ab = Sse.UnpackLow(a, b) + Sse.UnpackHigh(a, b); // a0+a2, b0+b2, a1+a3, b1+b3
            Vector128<float> cd = Sse.UnpackLow(c, d) + Sse.UnpackHigh(c, d);
            return Sse.MoveLowToHigh(ab, cd) + Sse.MoveHighToLow(cd, ab);
        }

        if (AdvSimd.Arm64.IsSupported)
        {
            return AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(a, b), AdvSimd.Arm64.AddPairwise(c, d));
        }

        return Vector128.Create(SumAcross(a), SumAcross(b), SumAcross(c), SumAcross(d));
    }

    /// <summary>
    /// <see cref="SumAcross4(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float})"/> on 256-bit vectors: the
    /// same unpacks, shuffles and adds within each 128-bit half at once, then the halves added. Eleven operations, where
    /// folding each vector to 128 bits first takes seventeen.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d)
    {
        if (Avx.IsSupported)
        {
            Vector256<float> ab = Avx.UnpackLow(a, b) + Avx.UnpackHigh(a, b); // per half: a0+a2, b0+b2, a1+a3, b1+b3
            Vector256<float> cd = Avx.UnpackLow(c, d) + Avx.UnpackHigh(c, d);
            Vector256<float> sums = Avx.Shuffle(ab, cd, 0b01_00_01_00) + Avx.Shuffle(ab, cd, 0b11_10_11_10); // per half: a, b, c, d
            return sums.GetLower() + sums.GetUpper();
        }

        return SumAcross4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
    }

    /// <summary>
    /// <see cref="SumAcross4(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float})"/> on 512-bit vectors: within
    /// each 128-bit quarter at once, then the quarters added. Thirteen operations, where folding each vector to 128 bits
    /// first takes twenty-five.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        if (Avx512F.IsSupported)
        {
            Vector512<float> ab = Avx512F.UnpackLow(a, b) + Avx512F.UnpackHigh(a, b);
            Vector512<float> cd = Avx512F.UnpackLow(c, d) + Avx512F.UnpackHigh(c, d);
            Vector512<float> sums = Avx512F.Shuffle(ab, cd, 0b01_00_01_00) + Avx512F.Shuffle(ab, cd, 0b11_10_11_10);
            Vector256<float> halves = sums.GetLower() + sums.GetUpper();
            return halves.GetLower() + halves.GetUpper();
        }

        return SumAcross4(a.GetLower() + a.GetUpper(), b.GetLower() + b.GetUpper(), c.GetLower() + c.GetUpper(), d.GetLower() + d.GetUpper());
    }

    /// <summary>The largest lane of <paramref name="vector"/>; NaN if any lane is NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> vector) => MaxAcross(Vector256.Max(vector.GetLower(), vector.GetUpper()));

    /// <inheritdoc cref="MaxAcross(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> vector) => MaxAcross(Vector128.Max(vector.GetLower(), vector.GetUpper()));

    /// <inheritdoc cref="MaxAcross(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> vector)
    {
        Vector128<float> pairs = Vector128.Max(vector, Vector128.Shuffle(vector, Vector128.Create(2, 3, 0, 1)));
        return Vector128.Max(pairs, Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }

    /// <summary>
    /// e^x for each lane, within 2 ulp of the correctly rounded result on [-87.33, 88.37]; the runtime tests sweep
    /// every 97th float of that range and find at most 2 ulp. At and below -87.68 the result is exactly 0 (e^x is
    /// subnormal there), so -∞ gives 0; above 88.37, where 2^n would overflow, it saturates at e^88.37 ≈ 2.4·10^38;
    /// NaN gives NaN. The kernels call it for soft-capping, where any argument above 88 means tanh = 1 anyway, and
    /// <see cref="ExpNonPositive(Vector512{float})"/> on s − max ≤ 0. 13 operations per vector, against about 40 for
    /// <see cref="Vector512.Exp(Vector512{float})"/>, which widens to double.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x) => Exp<Vector512Ops, Vector512<float>, Vector512<int>>(x);

    /// <inheritdoc cref="Exp(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x) => Exp<Vector256Ops, Vector256<float>, Vector256<int>>(x);

    /// <inheritdoc cref="Exp(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> x) => Exp<Vector128Ops, Vector128<float>, Vector128<int>>(x);

    /// <summary>
    /// <see cref="Exp(Vector512{float})"/> for x ≤ 0 or NaN, bit for bit, without the clamp at 88.37 that only a
    /// positive argument reaches: what the kernels take of a score minus a maximum at least as large (the softmax's
    /// probabilities and its rescaling factor). 12 operations per vector rather than 13, and one register fewer, which a
    /// 16-register file needs to keep the loop over a tile's scores in registers. A positive argument above 88.37 would
    /// overflow 2^n.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositive(Vector512<float> x) => Exp<Vector512Ops, Vector512<float>, Vector512<int>>(x, nonPositive: true);

    /// <inheritdoc cref="ExpNonPositive(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpNonPositive(Vector256<float> x) => Exp<Vector256Ops, Vector256<float>, Vector256<int>>(x, nonPositive: true);

    /// <inheritdoc cref="ExpNonPositive(Vector512{float})"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ExpNonPositive(Vector128<float> x) => Exp<Vector128Ops, Vector128<float>, Vector128<int>>(x, nonPositive: true);

    /// <summary>
    /// The soft cap <c>c · tanh(x / c)</c> of each lane, with tanh(y) = 1 − 2 / (e^(2y) + 1) on
    /// <see cref="Exp(Vector512{float})"/>: large |x| saturate to ±c, NaN stays NaN. The error is absolute, about a few
    /// c · 2^-24, which near 0 is more than an ulp of the result but far below what a score changes by.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SoftCap(Vector512<float> x, float cap) => SoftCap<Vector512Ops, Vector512<float>, Vector512<int>>(x, cap);

    /// <inheritdoc cref="SoftCap(Vector512{float}, float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SoftCap(Vector256<float> x, float cap) => SoftCap<Vector256Ops, Vector256<float>, Vector256<int>>(x, cap);

    /// <inheritdoc cref="SoftCap(Vector512{float}, float)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SoftCap(Vector128<float> x, float cap) => SoftCap<Vector128Ops, Vector128<float>, Vector128<int>>(x, cap);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TFloat SoftCap<TOps, TFloat, TInt>(TFloat x, float cap)
        where TOps : struct, IVectorOps<TFloat, TInt>
    {
        TFloat e = Exp<TOps, TFloat, TInt>(TOps.Multiply(x, TOps.Create(2f / cap)));
        return TOps.Subtract(TOps.Create(cap), TOps.Divide(TOps.Create(2f * cap), TOps.Add(e, TOps.Create(1f))));
    }

    /// <summary>
    /// exp(x) = 2^n · exp(r), with n = round(x / ln 2) and r = x − n·ln 2 in [−ln 2 / 2, ln 2 / 2] (Cody–Waite, ln 2 in
    /// two parts), exp(r) = 1 + r · P(r) with P of degree 4, and 2^n built in the exponent bits. P's coefficients are the
    /// minimax fit of the relative error on that interval (9.15·10⁻⁸ before rounding to float), so the polynomial and
    /// the scaling by 2^n take 6 operations: 2^n + (r · 2^n) · P(r) as the last multiply-add, exact while 2^n is.
    /// Rounding x / ln 2 adds 1.5 · 2^23 + 127, which leaves n + 127 in the low bits of the sum, ready to shift into
    /// place. Clamping x at −88 makes n at least −127, where those bits are 0 and 2^n is +0: the result is an exact 0 with
    /// no compare. The clamps put the constant first: MaxNative and MinNative return their second operand when either is
    /// NaN (x86) or propagate NaN (Arm), so a NaN input reaches the result. <paramref name="nonPositive"/>, a constant at
    /// every call, leaves out the upper clamp (<see cref="ExpNonPositive(Vector512{float})"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TFloat Exp<TOps, TFloat, TInt>(TFloat x, bool nonPositive = false)
        where TOps : struct, IVectorOps<TFloat, TInt>
    {
        const float Lowest = -88f;        // n = −127 here: 2^n is built as +0, so the result is 0
        const float Highest = 88.37626f;  // 127.5 · ln 2: n stays at most 127, so 2^n is a normal float
        const float Shifter = 12582912f + 127f;
        TFloat clamped = TOps.Max(TOps.Create(Lowest), x);
        if (!nonPositive)
        {
            clamped = TOps.Min(TOps.Create(Highest), clamped);
        }

        TFloat shifted = TOps.MultiplyAdd(clamped, TOps.Create(1.44269504088896341f), TOps.Create(Shifter));
        TFloat n = TOps.Subtract(shifted, TOps.Create(Shifter));
        TFloat r = TOps.MultiplyAdd(n, TOps.Create(-0.693359375f), clamped);
        r = TOps.MultiplyAdd(n, TOps.Create(2.12194440e-4f), r);
        TFloat p = TOps.Create(8.290315e-3f);
        p = TOps.MultiplyAdd(p, r, TOps.Create(4.189793e-2f));
        p = TOps.MultiplyAdd(p, r, TOps.Create(1.6667636e-1f));
        p = TOps.MultiplyAdd(p, r, TOps.Create(4.999915e-1f));
        p = TOps.MultiplyAdd(p, r, TOps.Create(9.999997e-1f));
        TFloat scale = TOps.ShiftIntoExponent(shifted);
        return TOps.MultiplyAdd(TOps.Multiply(r, scale), p, scale);
    }

    /// <summary>The few vector operations <see cref="Exp{TOps, TFloat, TInt}"/> and the soft cap need, implemented once per width.</summary>
    private interface IVectorOps<TFloat, TInt>
    {
        static abstract TFloat Create(float value);
        static abstract TFloat Add(TFloat left, TFloat right);
        static abstract TFloat Subtract(TFloat left, TFloat right);
        static abstract TFloat Multiply(TFloat left, TFloat right);
        static abstract TFloat Divide(TFloat left, TFloat right);
        static abstract TFloat MultiplyAdd(TFloat left, TFloat right, TFloat addend);
        static abstract TFloat Min(TFloat left, TFloat right);
        static abstract TFloat Max(TFloat left, TFloat right);

        /// <summary>Reinterprets the low bits of <paramref name="shifted"/> as a biased exponent: 2^(bits − 127).</summary>
        static abstract TFloat ShiftIntoExponent(TFloat shifted);
    }

    private readonly struct Vector512Ops : IVectorOps<Vector512<float>, Vector512<int>>
    {
        public static Vector512<float> Create(float value) => Vector512.Create(value);
        public static Vector512<float> Add(Vector512<float> left, Vector512<float> right) => left + right;
        public static Vector512<float> Subtract(Vector512<float> left, Vector512<float> right) => left - right;
        public static Vector512<float> Multiply(Vector512<float> left, Vector512<float> right) => left * right;
        public static Vector512<float> Divide(Vector512<float> left, Vector512<float> right) => left / right;
        public static Vector512<float> MultiplyAdd(Vector512<float> left, Vector512<float> right, Vector512<float> addend) => Vector512.MultiplyAddEstimate(left, right, addend);
        public static Vector512<float> Min(Vector512<float> left, Vector512<float> right) => Vector512.MinNative(left, right);
        public static Vector512<float> Max(Vector512<float> left, Vector512<float> right) => Vector512.MaxNative(left, right);
        public static Vector512<float> ShiftIntoExponent(Vector512<float> shifted) => (shifted.AsInt32() << 23).AsSingle();
    }

    private readonly struct Vector256Ops : IVectorOps<Vector256<float>, Vector256<int>>
    {
        public static Vector256<float> Create(float value) => Vector256.Create(value);
        public static Vector256<float> Add(Vector256<float> left, Vector256<float> right) => left + right;
        public static Vector256<float> Subtract(Vector256<float> left, Vector256<float> right) => left - right;
        public static Vector256<float> Multiply(Vector256<float> left, Vector256<float> right) => left * right;
        public static Vector256<float> Divide(Vector256<float> left, Vector256<float> right) => left / right;
        public static Vector256<float> MultiplyAdd(Vector256<float> left, Vector256<float> right, Vector256<float> addend) => Vector256.MultiplyAddEstimate(left, right, addend);
        public static Vector256<float> Min(Vector256<float> left, Vector256<float> right) => Vector256.MinNative(left, right);
        public static Vector256<float> Max(Vector256<float> left, Vector256<float> right) => Vector256.MaxNative(left, right);
        public static Vector256<float> ShiftIntoExponent(Vector256<float> shifted) => (shifted.AsInt32() << 23).AsSingle();
    }

    private readonly struct Vector128Ops : IVectorOps<Vector128<float>, Vector128<int>>
    {
        public static Vector128<float> Create(float value) => Vector128.Create(value);
        public static Vector128<float> Add(Vector128<float> left, Vector128<float> right) => left + right;
        public static Vector128<float> Subtract(Vector128<float> left, Vector128<float> right) => left - right;
        public static Vector128<float> Multiply(Vector128<float> left, Vector128<float> right) => left * right;
        public static Vector128<float> Divide(Vector128<float> left, Vector128<float> right) => left / right;
        public static Vector128<float> MultiplyAdd(Vector128<float> left, Vector128<float> right, Vector128<float> addend) => Vector128.MultiplyAddEstimate(left, right, addend);
        public static Vector128<float> Min(Vector128<float> left, Vector128<float> right) => Vector128.MinNative(left, right);
        public static Vector128<float> Max(Vector128<float> left, Vector128<float> right) => Vector128.MaxNative(left, right);
        public static Vector128<float> ShiftIntoExponent(Vector128<float> shifted) => (shifted.AsInt32() << 23).AsSingle();
    }
}
