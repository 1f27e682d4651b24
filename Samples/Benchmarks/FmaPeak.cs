using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;

namespace Benchmarks;

/// <summary>
/// The machine's fused multiply-add peak, measured in C# in the same run: 12 independent accumulator chains (more than
/// FMA latency × throughput), so nothing but the FMA units limits the loop. Each call does
/// <see cref="Iterations"/> · 12 FMAs per thread.
/// </summary>
public class FmaPeak
{
    public const int Iterations = 1 << 20;
    public const int Chains = 12;

    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Floating-point operations in one call of a probe with vectors of <paramref name="lanes"/> floats.</summary>
    public static double Flops(int lanes, int threads) => 2.0 * lanes * Chains * Iterations * threads;

    [Benchmark(Description = "FMA peak, Vector512")]
    public float Vector512Peak() => Threads == 1 ? Run512() : Parallel2(Run512);

    [Benchmark(Description = "FMA peak, Vector256")]
    public float Vector256Peak() => Threads == 1 ? Run256() : Parallel2(Run256);

    /// <summary>
    /// The Vector128 path's peak: MultiplyAddEstimate, as the kernels use it, so that without FMA (DOTNET_EnableAVX2=0,
    /// which turns FMA off too, or an x86-64-v2 NativeAOT build) it measures a multiply and an add. There each chain is a
    /// multiply then an add, and its latency, not the pipes, bounds the probe: on Zen 4 it measured 47 GFLOP/s on one
    /// thread, where 7 chains of multiplies beside 7 of adds reached 53 and FMA 58.6. That form was not kept, since on
    /// two threads it ran only 1.3–1.7 times as fast as on one (docs/PERFORMANCE.md, Zen 4, 2026-12-07, midday).
    /// </summary>
    [Benchmark(Description = "FMA peak, Vector128")]
    public float Vector128Peak() => Threads == 1 ? Run128() : Parallel2(Run128);

    private static float Parallel2(System.Func<float> probe)
    {
        float a = 0, b = 0;
        Parallel.Invoke(() => a = probe(), () => b = probe());
        return a + b;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Run512()
    {
        Vector512<float> m = Vector512.Create(0.999999f), c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }

        return Vector512.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Run256()
    {
        Vector256<float> m = Vector256.Create(0.999999f), c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
        }

        return Vector256.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Run128()
    {
        Vector128<float> m = Vector128.Create(0.999999f), c = Vector128.Create(1e-7f);
        Vector128<float> a0 = Vector128.Create(1f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector128.MultiplyAddEstimate(a0, m, c); a1 = Vector128.MultiplyAddEstimate(a1, m, c);
            a2 = Vector128.MultiplyAddEstimate(a2, m, c); a3 = Vector128.MultiplyAddEstimate(a3, m, c);
            a4 = Vector128.MultiplyAddEstimate(a4, m, c); a5 = Vector128.MultiplyAddEstimate(a5, m, c);
            a6 = Vector128.MultiplyAddEstimate(a6, m, c); a7 = Vector128.MultiplyAddEstimate(a7, m, c);
            a8 = Vector128.MultiplyAddEstimate(a8, m, c); a9 = Vector128.MultiplyAddEstimate(a9, m, c);
            a10 = Vector128.MultiplyAddEstimate(a10, m, c); a11 = Vector128.MultiplyAddEstimate(a11, m, c);
        }

        return Vector128.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11)));
    }
}
