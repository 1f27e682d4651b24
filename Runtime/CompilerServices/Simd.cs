using System.ComponentModel;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.CompilerServices;

/// <summary>
/// One vector width, as the kernels use it: the same algorithm is written once, generic over this interface, and
/// the JIT compiles it once per width with every member inlined, as if it had been written for that width. Used by
/// generated code; not meant to be called directly.
/// </summary>
/// <typeparam name="TVector">The vector of floats: <see cref="Vector512{T}"/>, <see cref="Vector256{T}"/> or <see cref="Vector128{T}"/>.</typeparam>
/// <remarks>
/// <see cref="System.Runtime.Intrinsics"/> has such an interface, but not as public API in .NET 10; this one has only
/// what the kernels need. TensorPrimitives' operator structs work the same way.
/// </remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface ISimd<TVector>
    where TVector : struct
{
    /// <summary>Floats in one vector.</summary>
    static abstract int Count { get; }

    /// <summary>
    /// Whether the instruction set gives this width 32 vector registers (AVX-512, which also widens the register file of
    /// its 256- and 128-bit forms, and Arm64) rather than 16 (AVX2, AVX, SSE). A JIT-time constant, which sizes the
    /// register blocks.
    /// </summary>
    static abstract bool HasWideRegisterFile { get; }

    /// <summary>
    /// How many vector registers one <typeparamref name="TVector"/> takes: 1, or 2 for a pair of vectors handled as one
    /// (SimdPair). Register blocks hold that many fewer accumulators.
    /// </summary>
    static abstract int Registers { get; }

    /// <summary>
    /// Whether the register blocks load four elements of a key or value row at once and multiply by each in place
    /// (<see cref="MultiplyAddLane"/>): NEON's multiply-add by element, on Arm64, where this width is Vector128 (four
    /// lanes). A JIT-time constant; elsewhere they take one element at a time (<see cref="ScalarFrom"/>).
    /// </summary>
    static abstract bool MultipliesByLane { get; }

    /// <summary>A vector of zeros.</summary>
    static abstract TVector Zero { get; }

    /// <summary>A vector with every lane <paramref name="value"/>.</summary>
    static abstract TVector Create(float value);

    /// <summary>
    /// The float at <paramref name="source"/> as the multiplier of <see cref="MultiplyAddScalar"/>: how the register blocks
    /// take key and value elements (and the one-row kernels their probabilities) to multiply a vector by. On x64 it is in
    /// every lane (a broadcast); on Arm64 only in lane 0, which <see cref="MultiplyAddScalar"/> reads. Use it for nothing
    /// else. <paramref name="source"/> must lie in memory that does not move while the kernel runs (a pinned array, native
    /// memory or the stack), since one width takes its address.
    /// </summary>
    /// <remarks>
    /// On x64 with AVX but not AVX2, <see cref="Simd128"/> broadcasts from memory with <c>vbroadcastss</c>: one load,
    /// where <see cref="Create"/> of a float is a load and a shuffle that competes with the multiplies and adds for their
    /// pipes. The intrinsic takes a pointer. With AVX2 and AVX-512 the JIT folds the load into the broadcast or the
    /// multiply-add; with SSE alone it stays a load and a shuffle. On Arm64 the float is loaded alone (<c>ldr s</c>, two at
    /// once as <c>ldp</c>), and the multiply-add takes it by element: no broadcast at all.
    /// </remarks>
    static abstract TVector ScalarFrom(ref float source);

    /// <summary>Loads the vector at <paramref name="source"/> plus <paramref name="offset"/> floats.</summary>
    static abstract TVector Load(ref float source, nuint offset);

    /// <summary>Stores <paramref name="value"/> at <paramref name="destination"/> plus <paramref name="offset"/> floats.</summary>
    static abstract void Store(TVector value, ref float destination, nuint offset);

    /// <summary>Lane by lane, <paramref name="left"/> + <paramref name="right"/>.</summary>
    static abstract TVector Add(TVector left, TVector right);

    /// <summary>Lane by lane, <paramref name="left"/> − <paramref name="right"/>.</summary>
    static abstract TVector Subtract(TVector left, TVector right);

    /// <summary>Lane by lane, <paramref name="left"/> · <paramref name="right"/>.</summary>
    static abstract TVector Multiply(TVector left, TVector right);

    /// <summary>
    /// Lane by lane, <paramref name="left"/> · <paramref name="right"/> + <paramref name="addend"/>: one fused instruction where
    /// the hardware has it (AVX2, AVX-512, NEON), a multiply and an add where it would be emulated.
    /// </summary>
    static abstract TVector MultiplyAdd(TVector left, TVector right, TVector addend);

    /// <summary>
    /// Lane by lane, <paramref name="vector"/> · the float that <paramref name="scalar"/> holds (from <see cref="ScalarFrom"/>)
    /// + <paramref name="addend"/>. On x64 <see cref="MultiplyAdd"/>; on Arm64 one <c>fmla</c> by element, where a
    /// multiply-add by a broadcast float took a <c>dup</c> first, on the same vector pipes as the multiply-adds.
    /// </summary>
    static abstract TVector MultiplyAddScalar(TVector vector, TVector scalar, TVector addend);

    /// <summary>
    /// Lane by lane, <paramref name="vector"/> · lane <paramref name="lane"/> of <paramref name="elements"/> +
    /// <paramref name="addend"/>. With <see cref="MultipliesByLane"/> (Arm64) one <c>fmla</c> by element, given a constant
    /// lane; elsewhere a broadcast of that lane and a multiply-add, which the kernels do not use.
    /// </summary>
    static abstract TVector MultiplyAddLane(TVector vector, TVector elements, [ConstantExpected] byte lane, TVector addend);

    /// <summary>Lane by lane, the larger of the two, with the hardware's handling of NaN.</summary>
    static abstract TVector Max(TVector left, TVector right);

    /// <summary>
    /// <see cref="KernelMath.ExpNonPositive(Vector512{float})"/> at this width: e^x for x ≤ 0 or NaN. Every exp a kernel
    /// takes is of a score minus a maximum at least as large.
    /// </summary>
    static abstract TVector ExpNonPositive(TVector x);

    /// <summary><see cref="KernelMath.SoftCap(Vector512{float}, float)"/> at this width.</summary>
    static abstract TVector SoftCap(TVector x, float cap);

    /// <summary>Each lane of <paramref name="x"/>, or 0 where it is −∞.</summary>
    static abstract TVector ZeroWhereNegativeInfinity(TVector x);

    /// <summary>1 / x in each lane, or 0 where x is 0.</summary>
    static abstract TVector ReciprocalOrZero(TVector x);

    /// <summary>Whether every lane of <paramref name="x"/> is exactly 1.</summary>
    static abstract bool AllOne(TVector x);

    /// <summary>
    /// <paramref name="scores"/> with −∞ in every lane r whose interval [firstKeys[r], endKeys[r]) does not hold key
    /// <paramref name="key"/>; the intervals are <see cref="Count"/> consecutive ints each.
    /// </summary>
    static abstract TVector MaskOutside(TVector scores, int key, ref int firstKeys, ref int endKeys);

    /// <summary>The sum of the lanes of <paramref name="x"/> (<see cref="KernelMath.SumAcross(Vector512{float})"/>).</summary>
    static abstract float SumAcross(TVector x);

    /// <summary>The largest lane of <paramref name="x"/> (<see cref="KernelMath.MaxAcross(Vector512{float})"/>).</summary>
    static abstract float MaxAcross(TVector x);

    /// <summary>Lane by lane, the bits of <paramref name="left"/> and <paramref name="right"/>.</summary>
    static abstract TVector And(TVector left, TVector right);

    /// <summary>A mask with every bit set in the lanes from <paramref name="first"/> on, and clear in the lanes before it.</summary>
    static abstract TVector LanesFrom(int first);

    /// <summary>
    /// Loads <see cref="Count"/> finite halves at <paramref name="source"/> plus <paramref name="offset"/> as floats 2^-112 times
    /// their value (<see cref="KernelMath.LoadHalfBits512"/>).
    /// </summary>
    static abstract TVector LoadHalfBits(ref ushort source, nuint offset);

    /// <summary>
    /// The sums of the lanes of four vectors, as the four lanes of one
    /// (<see cref="KernelMath.SumAcross4(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float})"/>).
    /// </summary>
    static abstract Vector128<float> SumAcross4(TVector a, TVector b, TVector c, TVector d);
}

/// <summary><see cref="ISimd{TVector}"/> on <see cref="Vector512{T}"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Simd512 : ISimd<Vector512<float>>
{
    /// <inheritdoc/>
    public static int Count => Vector512<float>.Count;

    /// <inheritdoc/>
    public static bool HasWideRegisterFile => true;

    /// <inheritdoc/>
    public static int Registers => 1;

    /// <inheritdoc/>
    public static bool MultipliesByLane => false;

    /// <inheritdoc/>
    public static Vector512<float> Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512<float>.Zero;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Create(float value) => Vector512.Create(value);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScalarFrom(ref float source) => Vector512.Create(source);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(ref float source, nuint offset) => Vector512.LoadUnsafe(ref source, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector512<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> left, Vector512<float> right) => left + right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> left, Vector512<float> right) => left - right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> left, Vector512<float> right) => left * right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> left, Vector512<float> right, Vector512<float> addend) => Vector512.MultiplyAddEstimate(left, right, addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAddScalar(Vector512<float> vector, Vector512<float> scalar, Vector512<float> addend) => Vector512.MultiplyAddEstimate(vector, scalar, addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAddLane(Vector512<float> vector, Vector512<float> elements, [ConstantExpected] byte lane, Vector512<float> addend) =>
        MultiplyAdd(vector, Vector512.Create(elements.GetElement(lane)), addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> left, Vector512<float> right) => Vector512.MaxNative(left, right);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ExpNonPositive(Vector512<float> x) => KernelMath.ExpNonPositive(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> SoftCap(Vector512<float> x, float cap) => KernelMath.SoftCap(x, cap);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ZeroWhereNegativeInfinity(Vector512<float> x) =>
        Vector512.ConditionalSelect(Vector512.Equals(x, Vector512.Create(float.NegativeInfinity)), Vector512<float>.Zero, x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ReciprocalOrZero(Vector512<float> x) =>
        Vector512.ConditionalSelect(Vector512.Equals(x, Vector512<float>.Zero), Vector512<float>.Zero, Vector512<float>.One / x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllOne(Vector512<float> x) => Vector512.EqualsAll(x, Vector512<float>.One);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MaskOutside(Vector512<float> scores, int key, ref int firstKeys, ref int endKeys)
    {
        Vector512<int> index = Vector512.Create(key);
        Vector512<int> visible = Vector512.GreaterThanOrEqual(index, Vector512.LoadUnsafe(ref firstKeys)) & Vector512.LessThan(index, Vector512.LoadUnsafe(ref endKeys));
        return Vector512.ConditionalSelect(visible.AsSingle(), scores, Vector512.Create(float.NegativeInfinity));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector512<float> x) => KernelMath.SumAcross(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector512<float> x) => KernelMath.MaxAcross(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> And(Vector512<float> left, Vector512<float> right) => left & right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LanesFrom(int first) => Vector512.GreaterThanOrEqual(Vector512<int>.Indices, Vector512.Create(first)).AsSingle();

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadHalfBits(ref ushort source, nuint offset) => KernelMath.LoadHalfBits512(ref source, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        KernelMath.SumAcross4(a, b, c, d);
}


/// <summary><see cref="ISimd{TVector}"/> on <see cref="Vector256{T}"/>.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Simd256 : ISimd<Vector256<float>>
{
    /// <inheritdoc/>
    public static int Count => Vector256<float>.Count;

    /// <inheritdoc/>
    public static bool HasWideRegisterFile => Avx512F.VL.IsSupported;

    /// <inheritdoc/>
    public static int Registers => 1;

    /// <inheritdoc/>
    public static bool MultipliesByLane => false;

    /// <inheritdoc/>
    public static Vector256<float> Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector256<float>.Zero;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Create(float value) => Vector256.Create(value);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ScalarFrom(ref float source) => Vector256.Create(source);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ref float source, nuint offset) => Vector256.LoadUnsafe(ref source, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector256<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> left, Vector256<float> right) => left + right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> left, Vector256<float> right) => left - right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> left, Vector256<float> right) => left * right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> left, Vector256<float> right, Vector256<float> addend) => Vector256.MultiplyAddEstimate(left, right, addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAddScalar(Vector256<float> vector, Vector256<float> scalar, Vector256<float> addend) => Vector256.MultiplyAddEstimate(vector, scalar, addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAddLane(Vector256<float> vector, Vector256<float> elements, [ConstantExpected] byte lane, Vector256<float> addend) =>
        MultiplyAdd(vector, Vector256.Create(elements.GetElement(lane)), addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> left, Vector256<float> right) => Vector256.MaxNative(left, right);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ExpNonPositive(Vector256<float> x) => KernelMath.ExpNonPositive(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> SoftCap(Vector256<float> x, float cap) => KernelMath.SoftCap(x, cap);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ZeroWhereNegativeInfinity(Vector256<float> x) =>
        Vector256.ConditionalSelect(Vector256.Equals(x, Vector256.Create(float.NegativeInfinity)), Vector256<float>.Zero, x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ReciprocalOrZero(Vector256<float> x) =>
        Vector256.ConditionalSelect(Vector256.Equals(x, Vector256<float>.Zero), Vector256<float>.Zero, Vector256<float>.One / x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllOne(Vector256<float> x) => Vector256.EqualsAll(x, Vector256<float>.One);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MaskOutside(Vector256<float> scores, int key, ref int firstKeys, ref int endKeys)
    {
        Vector256<int> index = Vector256.Create(key);
        Vector256<int> visible = Vector256.GreaterThanOrEqual(index, Vector256.LoadUnsafe(ref firstKeys)) & Vector256.LessThan(index, Vector256.LoadUnsafe(ref endKeys));
        return Vector256.ConditionalSelect(visible.AsSingle(), scores, Vector256.Create(float.NegativeInfinity));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector256<float> x) => KernelMath.SumAcross(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector256<float> x) => KernelMath.MaxAcross(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> And(Vector256<float> left, Vector256<float> right) => left & right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LanesFrom(int first) => Vector256.GreaterThanOrEqual(Vector256<int>.Indices, Vector256.Create(first)).AsSingle();

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadHalfBits(ref ushort source, nuint offset) => KernelMath.LoadHalfBits256(ref source, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d) =>
        KernelMath.SumAcross4(a, b, c, d);
}


/// <summary><see cref="ISimd{TVector}"/> on <see cref="Vector128{T}"/>: SSE or AVX on x64, NEON on Arm64.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public readonly struct Simd128 : ISimd<Vector128<float>>
{
    /// <inheritdoc/>
    public static int Count => Vector128<float>.Count;

    /// <inheritdoc/>
    public static bool HasWideRegisterFile => Avx512F.VL.IsSupported || AdvSimd.Arm64.IsSupported;

    /// <inheritdoc/>
    public static int Registers => 1;

    /// <inheritdoc/>
    public static bool MultipliesByLane => AdvSimd.Arm64.IsSupported;

    /// <inheritdoc/>
    public static Vector128<float> Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector128<float>.Zero;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Create(float value) => Vector128.Create(value);

    /// <inheritdoc/>
    /// <remarks>
    /// Without AVX2 the JIT broadcasts a float with <c>vmovss</c> and <c>vpermilps</c>, and the shuffle takes a slot on
    /// the pipes that the paired blocks' 12 multiplies and 12 adds per step keep busy; <c>vbroadcastss</c> from memory,
    /// which AVX has, is a load alone. On Zen 5 with <c>DOTNET_EnableAVX2=0</c> it took the paired Q·Kᵀ block on keys
    /// in L1 from 42 to 53.5 GFLOP/s (Stopwatch probe), and one-thread prefill at N ≥ 512 1.20–1.28× faster
    /// (BenchmarkDotNet, docs/PERFORMANCE.md). With AVX2 the JIT already broadcasts from memory. On Arm64 the float stays
    /// in lane 0 (<c>ldr s</c>) for <see cref="MultiplyAddScalar"/>'s <c>fmla</c> by element: a broadcast there was a
    /// <c>dup</c> per element, one vector instruction beside each multiply-add (the Arm64 JIT's listings).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector128<float> ScalarFrom(ref float source) =>
        AdvSimd.Arm64.IsSupported ? Vector128.CreateScalarUnsafe(source)
        : Avx.IsSupported && !Avx2.IsSupported ? Avx.BroadcastScalarToVector128((float*)Unsafe.AsPointer(ref source))
        : Vector128.Create(source);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load(ref float source, nuint offset) => Vector128.LoadUnsafe(ref source, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<float> value, ref float destination, nuint offset) => value.StoreUnsafe(ref destination, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Add(Vector128<float> left, Vector128<float> right) => left + right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Subtract(Vector128<float> left, Vector128<float> right) => left - right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Multiply(Vector128<float> left, Vector128<float> right) => left * right;

    /// <inheritdoc/>
    /// <remarks>
    /// Without FMA it is a multiply and an add, written with the addend first: SSE's add overwrites its first operand,
    /// and the JIT then adds into the accumulator, where the other order had it add into the product and copy that back
    /// (P·V's paired block took two more copies per value element; 8–10% faster whole calls with
    /// <c>DOTNET_EnableAVX=0</c>, Stopwatch probes). The sum is the same either way.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAdd(Vector128<float> left, Vector128<float> right, Vector128<float> addend) =>
        Fma.IsSupported || AdvSimd.IsSupported ? Vector128.MultiplyAddEstimate(left, right, addend) : addend + left * right;

    /// <inheritdoc/>
    /// <remarks>
    /// Written out, not through <see cref="MultiplyAdd"/>: the level of inlining more made the group kernels' P·V over
    /// halves run out of the JIT's inlining budget with <c>DOTNET_EnableAVX2=0</c>, and call Load, Add and Store in its
    /// loops (CI's listing check, which found their vectors stored to the frame). Off Arm64 it is MultiplyAdd's body, the
    /// same condition included, so that both fuse on the same machines (32-bit Arm's NEON too).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAddScalar(Vector128<float> vector, Vector128<float> scalar, Vector128<float> addend) =>
        AdvSimd.Arm64.IsSupported ? AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar(addend, vector, scalar, 0)
        : Fma.IsSupported || AdvSimd.IsSupported ? Vector128.MultiplyAddEstimate(vector, scalar, addend) : addend + vector * scalar;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MultiplyAddLane(Vector128<float> vector, Vector128<float> elements, [ConstantExpected(Max = (byte)3)] byte lane, Vector128<float> addend) =>
        AdvSimd.Arm64.IsSupported
            ? AdvSimd.Arm64.FusedMultiplyAddBySelectedScalar(addend, vector, elements, lane)
            : MultiplyAdd(vector, Vector128.Create(elements.GetElement(lane)), addend);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Max(Vector128<float> left, Vector128<float> right) => Vector128.MaxNative(left, right);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ExpNonPositive(Vector128<float> x) => KernelMath.ExpNonPositive(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SoftCap(Vector128<float> x, float cap) => KernelMath.SoftCap(x, cap);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ZeroWhereNegativeInfinity(Vector128<float> x) =>
        Vector128.ConditionalSelect(Vector128.Equals(x, Vector128.Create(float.NegativeInfinity)), Vector128<float>.Zero, x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ReciprocalOrZero(Vector128<float> x) =>
        Vector128.ConditionalSelect(Vector128.Equals(x, Vector128<float>.Zero), Vector128<float>.Zero, Vector128<float>.One / x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllOne(Vector128<float> x) => Vector128.EqualsAll(x, Vector128<float>.One);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MaskOutside(Vector128<float> scores, int key, ref int firstKeys, ref int endKeys)
    {
        Vector128<int> index = Vector128.Create(key);
        Vector128<int> visible = Vector128.GreaterThanOrEqual(index, Vector128.LoadUnsafe(ref firstKeys)) & Vector128.LessThan(index, Vector128.LoadUnsafe(ref endKeys));
        return Vector128.ConditionalSelect(visible.AsSingle(), scores, Vector128.Create(float.NegativeInfinity));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Vector128<float> x) => KernelMath.SumAcross(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Vector128<float> x) => KernelMath.MaxAcross(x);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> And(Vector128<float> left, Vector128<float> right) => left & right;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LanesFrom(int first) => Vector128.GreaterThanOrEqual(Vector128<int>.Indices, Vector128.Create(first)).AsSingle();

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> LoadHalfBits(ref ushort source, nuint offset) => KernelMath.LoadHalfBits128(ref source, offset);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d) =>
        KernelMath.SumAcross4(a, b, c, d);
}
