using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using AttentionGen;
using BenchmarkDotNet.Attributes;

namespace Benchmarks;

/// <summary>
/// What writing the attention weights costs: the generated <c>Forward</c>, and its overloads that also write the
/// probabilities ([1, 8, N, N] floats) or each row's log-sum-exp, on the same inputs. The extra time of the weights
/// overload over the plain one, against the time <see cref="WriteBandwidth"/> needs to write N²·H floats, is the
/// share of the write bandwidth the weights get (docs/PERFORMANCE.md).
/// </summary>
public class Weights : PrefillBase
{
    private float[] _weights = Array.Empty<float>(), _logSumExp = Array.Empty<float>();

    [Params(512, 2048)]
    public override int N { get; set; }

    [Params(64)]
    public override int HeadDim { get; set; }

    [Params(false)]
    public override bool Causal { get; set; }

    [Params(1, 2)]
    public override int Threads { get; set; }

    public override void Setup()
    {
        base.Setup();
        _weights = new float[Heads * N * N];
        _logSumExp = new float[Heads * N];
    }

    /// <summary>Bytes of probabilities one call writes.</summary>
    public static double WeightBytes(int n) => (double)Heads * n * n * sizeof(float);

    [Benchmark(Description = "Forward")]
    public void Plain() => Prefill64.Forward(Query, Key, Value, Output, 1, N, N);

    [Benchmark(Description = "Forward + probabilities")]
    public void WithWeights() => Prefill64.Forward(Query, Key, Value, Output, 1, N, N, _weights, AttentionWeights.Probabilities);

    [Benchmark(Description = "Forward + log-sum-exp")]
    public void WithLogSumExp() => Prefill64.Forward(Query, Key, Value, Output, 1, N, N, _logSumExp);
}

/// <summary>
/// The machine's write bandwidth, measured in C# in the same run: the threads store their shares of a buffer of
/// 8 · 2048² floats (128 MiB, the weights of the largest <see cref="Weights"/> case) with ordinary vector stores, as the
/// weights are written.
/// </summary>
public class WriteBandwidth : BandwidthProbe
{
    public const int Length = 8 * 2048 * 2048;

    public static double Bytes => (double)Length * sizeof(float);

    protected override int Floats => Length;

    [Benchmark(Description = "Write bandwidth probe")]
    public float Write() => Sweep(static (buffer, start, count) => Store(buffer, start, count));

    /// <summary>Stores with the widest accelerated vectors (an unaccelerated Vector512 would be a software loop).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Store(float[] buffer, int start, int count)
    {
        ref float first = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buffer), start);
        if (!Vector512.IsHardwareAccelerated)
        {
            Vector256<float> half = Vector256.Create(0.5f);
            for (int i = 0; i < count; i += 4 * Vector256<float>.Count)
            {
                half.StoreUnsafe(ref first, (nuint)i);
                half.StoreUnsafe(ref first, (nuint)(i + 8));
                half.StoreUnsafe(ref first, (nuint)(i + 16));
                half.StoreUnsafe(ref first, (nuint)(i + 24));
            }

            return 0;
        }

        Vector512<float> value = Vector512.Create(0.5f);
        for (int i = 0; i < count; i += 4 * Vector512<float>.Count)
        {
            value.StoreUnsafe(ref first, (nuint)i);
            value.StoreUnsafe(ref first, (nuint)(i + 16));
            value.StoreUnsafe(ref first, (nuint)(i + 32));
            value.StoreUnsafe(ref first, (nuint)(i + 48));
        }

        return 0;
    }
}
