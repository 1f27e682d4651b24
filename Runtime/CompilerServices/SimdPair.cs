using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.CompilerServices;

/// <summary>Two vectors of one width, handled as one vector of twice as many lanes (<see cref="SimdPair{TSimd, TVector}"/>).</summary>
/// <typeparam name="TVector">The vector of floats.</typeparam>
internal readonly struct VectorPair<TVector>
    where TVector : struct
{
    public readonly TVector Low;
    public readonly TVector High;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public VectorPair(TVector low, TVector high)
    {
        Low = low;
        High = high;
    }
}

/// <summary>
/// <see cref="ISimd{TVector}"/> on pairs of <typeparamref name="TVector"/>: twice <typeparamref name="TSimd"/>'s lanes, every
/// operation done on both halves. A row block on pairs holds twice the rows, so a register block broadcasts each key
/// or value element once for two fused multiply-adds: the shape of the classic AVX2 matrix-product kernel (two vector
/// loads and six broadcasts feeding twelve accumulators), for instruction sets whose broadcasts are not part of the
/// multiply-add and whose 16 registers hold six pairs of accumulators; and with AVX-512 for blocks of more than 16 rows,
/// where a broadcast folded into the multiply-add is still a load, one more than a core with two 512-bit FMA pipes can
/// issue for every multiply-add.
/// </summary>
/// <typeparam name="TSimd">The width of each half.</typeparam>
/// <typeparam name="TVector">Its vector.</typeparam>
internal readonly struct SimdPair<TSimd, TVector> : ISimd<VectorPair<TVector>>
    where TSimd : struct, ISimd<TVector>
    where TVector : struct
{
    /// <inheritdoc/>
    public static int Count => 2 * TSimd.Count;

    /// <inheritdoc/>
    public static bool HasWideRegisterFile => TSimd.HasWideRegisterFile;

    /// <inheritdoc/>
    public static int Registers => 2 * TSimd.Registers;

    /// <inheritdoc/>
    public static bool MultipliesByLane => false;

    /// <inheritdoc/>
    public static VectorPair<TVector> Zero
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => new(TSimd.Zero, TSimd.Zero);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> Create(float value)
    {
        TVector broadcast = TSimd.Create(value);
        return new(broadcast, broadcast);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> ScalarFrom(ref float source)
    {
        TVector scalar = TSimd.ScalarFrom(ref source);
        return new(scalar, scalar);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> Load(ref float source, nuint offset) =>
        new(TSimd.Load(ref source, offset), TSimd.Load(ref source, offset + (nuint)TSimd.Count));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(VectorPair<TVector> value, ref float destination, nuint offset)
    {
        TSimd.Store(value.Low, ref destination, offset);
        TSimd.Store(value.High, ref destination, offset + (nuint)TSimd.Count);
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> Add(VectorPair<TVector> left, VectorPair<TVector> right) =>
        new(TSimd.Add(left.Low, right.Low), TSimd.Add(left.High, right.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> Subtract(VectorPair<TVector> left, VectorPair<TVector> right) =>
        new(TSimd.Subtract(left.Low, right.Low), TSimd.Subtract(left.High, right.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> Multiply(VectorPair<TVector> left, VectorPair<TVector> right) =>
        new(TSimd.Multiply(left.Low, right.Low), TSimd.Multiply(left.High, right.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> MultiplyAdd(VectorPair<TVector> left, VectorPair<TVector> right, VectorPair<TVector> addend) =>
        new(TSimd.MultiplyAdd(left.Low, right.Low, addend.Low), TSimd.MultiplyAdd(left.High, right.High, addend.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> MultiplyAddScalar(VectorPair<TVector> vector, VectorPair<TVector> scalar, VectorPair<TVector> addend) =>
        new(TSimd.MultiplyAddScalar(vector.Low, scalar.Low, addend.Low), TSimd.MultiplyAddScalar(vector.High, scalar.High, addend.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> MultiplyAddLane(VectorPair<TVector> vector, VectorPair<TVector> elements, [ConstantExpected] byte lane, VectorPair<TVector> addend)
    {
        TVector element = TSimd.Create(Unsafe.Add(ref Unsafe.As<VectorPair<TVector>, float>(ref elements), lane));
        return new(TSimd.MultiplyAdd(vector.Low, element, addend.Low), TSimd.MultiplyAdd(vector.High, element, addend.High));
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> Max(VectorPair<TVector> left, VectorPair<TVector> right) =>
        new(TSimd.Max(left.Low, right.Low), TSimd.Max(left.High, right.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> ExpNonPositive(VectorPair<TVector> x) => new(TSimd.ExpNonPositive(x.Low), TSimd.ExpNonPositive(x.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> SoftCap(VectorPair<TVector> x, float cap) => new(TSimd.SoftCap(x.Low, cap), TSimd.SoftCap(x.High, cap));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> ZeroWhereNegativeInfinity(VectorPair<TVector> x) =>
        new(TSimd.ZeroWhereNegativeInfinity(x.Low), TSimd.ZeroWhereNegativeInfinity(x.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> ReciprocalOrZero(VectorPair<TVector> x) => new(TSimd.ReciprocalOrZero(x.Low), TSimd.ReciprocalOrZero(x.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool AllOne(VectorPair<TVector> x) => TSimd.AllOne(x.Low) && TSimd.AllOne(x.High);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> MaskOutside(VectorPair<TVector> scores, int key, ref int firstKeys, ref int endKeys) => new(
        TSimd.MaskOutside(scores.Low, key, ref firstKeys, ref endKeys),
        TSimd.MaskOutside(scores.High, key, ref Unsafe.Add(ref firstKeys, TSimd.Count), ref Unsafe.Add(ref endKeys, TSimd.Count)));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(VectorPair<TVector> x) => TSimd.SumAcross(TSimd.Add(x.Low, x.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(VectorPair<TVector> x) => TSimd.MaxAcross(TSimd.Max(x.Low, x.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> And(VectorPair<TVector> left, VectorPair<TVector> right) =>
        new(TSimd.And(left.Low, right.Low), TSimd.And(left.High, right.High));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> LanesFrom(int first) => new(TSimd.LanesFrom(first), TSimd.LanesFrom(first - TSimd.Count));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static VectorPair<TVector> LoadHalfBits(ref ushort source, nuint offset) =>
        new(TSimd.LoadHalfBits(ref source, offset), TSimd.LoadHalfBits(ref source, offset + (nuint)TSimd.Count));

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(VectorPair<TVector> a, VectorPair<TVector> b, VectorPair<TVector> c, VectorPair<TVector> d) =>
        TSimd.SumAcross4(TSimd.Add(a.Low, a.High), TSimd.Add(b.Low, b.High), TSimd.Add(c.Low, c.High), TSimd.Add(d.Low, d.High));
}
