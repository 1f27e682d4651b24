using System;
using AttentionGen;
using BenchmarkDotNet.Attributes;

namespace Benchmarks;

/// <summary>Inputs for one prefill shape: H = 8 heads of HeadDim, N queries against N keys, one batch entry.</summary>
public abstract class PrefillBase
{
    protected const int Heads = 8;

    protected float[] Query = Array.Empty<float>(), Key = Array.Empty<float>(), Value = Array.Empty<float>(), Output = Array.Empty<float>();

    public abstract int N { get; set; }

    public abstract int HeadDim { get; set; }

    public abstract bool Causal { get; set; }

    public abstract int Threads { get; set; }

    [GlobalSetup]
    public virtual void Setup()
    {
        var random = new Random(42);
        Query = Fill(random, Heads * N * HeadDim);
        Key = Fill(random, Heads * N * HeadDim);
        Value = Fill(random, Heads * N * HeadDim);
        Output = new float[Heads * N * HeadDim];
        AttentionRuntime.MaxDegreeOfParallelism = Threads;
    }

    /// <summary>The flop count the results are reported in: 4·N²·d·H, halved when causal.</summary>
    public static double Flops(int n, int headDim, bool causal) => 4.0 * n * n * headDim * Heads / (causal ? 2 : 1);

    private static float[] Fill(Random random, int length)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }

        return values;
    }
}

/// <summary>The generated kernels on the full matrix of shapes.</summary>
public class Prefill : PrefillBase
{
    [Params(512, 1024, 2048, 4096)]
    public override int N { get; set; }

    [Params(64, 128)]
    public override int HeadDim { get; set; }

    [Params(false, true)]
    public override bool Causal { get; set; }

    [Params(1, 2)]
    public override int Threads { get; set; }

    [Benchmark(Description = "Attention.Gen")]
    public void Generated()
    {
        switch (HeadDim, Causal)
        {
            case (64, false): Prefill64.Forward(Query, Key, Value, Output, 1, N, N); break;
            case (64, true): Prefill64Causal.Forward(Query, Key, Value, Output, 1, N, N); break;
            case (128, false): Prefill128.Forward(Query, Key, Value, Output, 1, N, N); break;
            default: Prefill128Causal.Forward(Query, Key, Value, Output, 1, N, N); break;
        }
    }

}

/// <summary>
/// The unfused TensorPrimitives implementation, at N = 512 and 2048 (at 4096 one call takes seconds and adds nothing).
/// </summary>
public class PrefillTensorPrimitives : PrefillBase
{
    [Params(512, 2048)]
    public override int N { get; set; }

    [Params(64, 128)]
    public override int HeadDim { get; set; }

    [Params(false, true)]
    public override bool Causal { get; set; }

    [Params(1, 2)]
    public override int Threads { get; set; }

    [Benchmark(Description = "TensorPrimitives, unfused")]
    public void TensorPrimitivesUnfused() => UnfusedAttention.Forward(Query, Key, Value, Output, Heads, N, HeadDim, Causal, Threads);
}

/// <summary>The same shapes in the Bshd layout, at N = 2048, not causal.</summary>
public class PrefillBshd : PrefillBase
{
    [Params(2048)]
    public override int N { get; set; }

    [Params(64, 128)]
    public override int HeadDim { get; set; }

    [Params(false)]
    public override bool Causal { get; set; }

    [Params(1, 2)]
    public override int Threads { get; set; }

    [Benchmark(Description = "Attention.Gen, Bshd")]
    public void Generated()
    {
        if (HeadDim == 64)
        {
            Prefill64Bshd.Forward(Query, Key, Value, Output, 1, N, N);
        }
        else
        {
            Prefill128Bshd.Forward(Query, Key, Value, Output, 1, N, N);
        }
    }
}

/// <summary>ReferenceAttention, the double-precision oracle, at the smallest shape (it is about 100 times slower).</summary>
public class PrefillReference : PrefillBase
{
    [Params(512)]
    public override int N { get; set; }

    [Params(64, 128)]
    public override int HeadDim { get; set; }

    [Params(false, true)]
    public override bool Causal { get; set; }

    [Params(1)]
    public override int Threads { get; set; }

    [Benchmark(Description = "ReferenceAttention")]
    public void Reference()
    {
        AttentionConfiguration configuration = (HeadDim, Causal) switch
        {
            (64, false) => Prefill64.Configuration,
            (64, true) => Prefill64Causal.Configuration,
            (128, false) => Prefill128.Configuration,
            _ => Prefill128Causal.Configuration,
        };
        ReferenceAttention.Forward(configuration, Query, Key, Value, Output, 1, N, N);
    }
}

/// <summary>
/// A process's first calls: each launch a new process, each iteration one call, none discarded, so the mean includes
/// the first call's compilation and whatever the calls after it run before tiered compilation would have optimized
/// them. The default job beside it gives the same shapes warm.
/// </summary>
[SimpleJob(BenchmarkDotNet.Engines.RunStrategy.ColdStart, launchCount: 5, warmupCount: 0, iterationCount: 10, id: "FirstCalls")]
public class PrefillFirstCalls : PrefillBase
{
    [Params(128, 512)]
    public override int N { get; set; }

    [Params(64)]
    public override int HeadDim { get; set; }

    [Params(false)]
    public override bool Causal { get; set; }

    [Params(1)]
    public override int Threads { get; set; }

    [Benchmark(Description = "Attention.Gen")]
    public void Generated() => Prefill64.Forward(Query, Key, Value, Output, 1, N, N);
}
