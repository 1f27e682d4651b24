using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Threading.Tasks;
using AttentionGen;
using BenchmarkDotNet.Attributes;

namespace Benchmarks;

/// <summary>
/// One decoding step: the 8 query heads of one new token against a cache of <see cref="CacheLength"/> tokens, 8
/// key/value heads of 128. Memory-bound: the figure that matters is how fast it reads the cache's keys and values.
/// </summary>
public class Decode
{
    public const int Heads = 8, HeadDim = 128;

    private KvCache _cache = null!;
    private float[] _query = Array.Empty<float>(), _output = Array.Empty<float>();

    [Params(4096, 32768)]
    public int CacheLength { get; set; }

    [Params(KvCachePrecision.Single, KvCachePrecision.Half)]
    public KvCachePrecision Precision { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>The bytes of keys and values one step reads.</summary>
    public static double Bytes(int cacheLength, KvCachePrecision precision) =>
        (double)cacheLength * Heads * (HeadDim + HeadDim) * (precision == KvCachePrecision.Single ? sizeof(float) : 2);

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _cache = Decode128.CreateCache(1, CacheLength, Precision);
        const int chunk = 1024;
        float[] keys = new float[chunk * Heads * HeadDim], values = new float[chunk * Heads * HeadDim];
        for (int appended = 0; appended < CacheLength; appended += chunk)
        {
            Fill(random, keys);
            Fill(random, values);
            _cache.Append(keys, values, chunk);
        }

        _query = new float[Heads * HeadDim];
        Fill(random, _query);
        _output = new float[Heads * HeadDim];
        AttentionRuntime.MaxDegreeOfParallelism = Threads;
    }

    [Benchmark(Description = "Attention.Gen decode")]
    public void Generated() => Decode128.Forward(_query, _cache, _output, 1, 1);

    internal static void Fill(Random random, float[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)(random.NextDouble() * 2 - 1);
        }
    }
}

/// <summary>
/// Grouped-query decoding of several new tokens in one call, as speculative decoding checks a draft: the 32 query heads
/// (on 8 key/value heads of 128, as Llama 3 8B) of <see cref="QueryLength"/> tokens against a cache of
/// <see cref="CacheLength"/> tokens that already holds them, causal. Each call reads the cache once for every query row
/// of a key/value head: GB/s counts its keys and values.
/// </summary>
public class DecodeDraft
{
    private const int QueryHeads = 32, KvHeads = 8, HeadDim = 128;
    private KvCache _cache = null!;
    private float[] _query = Array.Empty<float>(), _output = Array.Empty<float>();

    [Params(4096, 32768)]
    public int CacheLength { get; set; }

    [Params(1, 2, 4)]
    public int QueryLength { get; set; }

    [Params(KvCachePrecision.Single, KvCachePrecision.Half)]
    public KvCachePrecision Precision { get; set; }

    [Params(1)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _cache = Decode128Gqa.CreateCache(1, CacheLength, Precision);
        const int chunk = 1024;
        float[] keys = new float[chunk * KvHeads * HeadDim], values = new float[chunk * KvHeads * HeadDim];
        for (int appended = 0; appended < CacheLength; appended += chunk)
        {
            Decode.Fill(random, keys);
            Decode.Fill(random, values);
            _cache.Append(keys, values, chunk);
        }

        _query = new float[QueryLength * QueryHeads * HeadDim];
        Decode.Fill(random, _query);
        _output = new float[_query.Length];
        AttentionRuntime.MaxDegreeOfParallelism = Threads;
    }

    [Benchmark(Description = "Attention.Gen, grouped-query draft")]
    public void Generated() => Decode128Gqa.Forward(_query, _cache, _output, 1, QueryLength);
}

/// <summary>
/// A prefill through a KV cache: N = 2048 queries against the same N tokens held in a cache, H = 8, d = 128, causal, the
/// shape of the prefill table. A Single cache is read in place; a Half one through a per-thread staged copy of each head,
/// made inside the timed call.
/// </summary>
public class PrefillCached : PrefillBase
{
    private KvCache _cache = null!;

    [Params(2048)]
    public override int N { get; set; }

    [Params(128)]
    public override int HeadDim { get; set; }

    [Params(true)]
    public override bool Causal { get; set; }

    [Params(1, 2)]
    public override int Threads { get; set; }

    [Params(KvCachePrecision.Single, KvCachePrecision.Half)]
    public KvCachePrecision Precision { get; set; }

    public override void Setup()
    {
        base.Setup();
        _cache = Prefill128Causal.CreateCache(1, N, Precision);
        _cache.Append(Key, Value, N);
    }

    [Benchmark(Description = "Attention.Gen, through a KvCache")]
    public void Generated() => Prefill128Causal.Forward(Query, _cache, Output, 1, N);

    /// <summary>The same call on the tensors the cache was filled from, for comparison in the same run (Precision does not apply).</summary>
    [Benchmark(Description = "Attention.Gen, tensors")]
    public void Tensors() => Prefill128Causal.Forward(Query, Key, Value, Output, 1, N, N);
}

/// <summary>
/// Appending to a KV cache of 8 key/value heads of 128: one token (each decoding step's) or 2048 (a prefill's), into an
/// emptied cache. A Half cache rounds each float to the nearest half on the way in.
/// </summary>
public class KvCacheAppend
{
    private KvCache _cache = null!;
    private float[] _keys = [], _values = [];

    [Params(1, 2048)]
    public int Tokens { get; set; }

    [Params(KvCachePrecision.Single, KvCachePrecision.Half)]
    public KvCachePrecision Precision { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _keys = new float[Tokens * 8 * 128];
        _values = new float[_keys.Length];
        Decode.Fill(random, _keys);
        Decode.Fill(random, _values);
        _cache = Decode128.CreateCache(1, Tokens, Precision);
    }

    [Benchmark(Description = "KvCache.Append")]
    public void Append()
    {
        _cache.Clear();
        _cache.Append(_keys, _values, Tokens);
    }
}

/// <summary>A memory-bandwidth probe: a pinned buffer of <see cref="Floats"/>, swept by 1 or 2 threads, each its half.</summary>
public abstract class BandwidthProbe
{
    private float[] _buffer = Array.Empty<float>();

    [Params(1, 2)]
    public int Threads { get; set; }

    protected abstract int Floats { get; }

    [GlobalSetup]
    public void Setup()
    {
        _buffer = GC.AllocateUninitializedArray<float>(Floats, pinned: true);
        _buffer.AsSpan().Fill(1f);
    }

    /// <summary>Runs <paramref name="sweep"/> over the buffer (start, count), split between the threads, and adds what they return.</summary>
    protected float Sweep(Func<float[], int, int, float> sweep)
    {
        if (Threads == 1)
        {
            return sweep(_buffer, 0, Floats);
        }

        float a = 0, b = 0;
        Parallel.Invoke(() => a = sweep(_buffer, 0, Floats / 2), () => b = sweep(_buffer, Floats / 2, Floats / 2));
        return a + b;
    }
}

/// <summary>
/// The machine's read bandwidth, measured in C# in the same run, STREAM-style: the threads sum their shares of a
/// 256 MiB buffer with independent vector accumulators, so that only memory limits them.
/// </summary>
public class ReadBandwidth : BandwidthProbe
{
    /// <summary>256 MiB of floats: as much as the largest Single cache above, far beyond any cache level.</summary>
    public const int Length = 64 << 20;

    public static double Bytes => (double)Length * sizeof(float);

    protected override int Floats => Length;

    [Benchmark(Description = "Read bandwidth probe")]
    public float Read() => Sweep(static (buffer, start, count) => Sum(buffer, start, count));

    /// <summary>Sums the floats with the widest accelerated vectors (an unaccelerated Vector512 would be a software loop).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Sum(float[] buffer, int start, int count)
    {
        ref float first = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buffer), start);
        if (!Vector512.IsHardwareAccelerated)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (int i = 0; i < count; i += 4 * Vector256<float>.Count)
            {
                a0 += Vector256.LoadUnsafe(ref first, (nuint)i);
                a1 += Vector256.LoadUnsafe(ref first, (nuint)(i + 8));
                a2 += Vector256.LoadUnsafe(ref first, (nuint)(i + 16));
                a3 += Vector256.LoadUnsafe(ref first, (nuint)(i + 24));
            }

            return Vector256.Sum((a0 + a1) + (a2 + a3));
        }

        Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int i = 0; i < count; i += 4 * Vector512<float>.Count)
        {
            s0 += Vector512.LoadUnsafe(ref first, (nuint)i);
            s1 += Vector512.LoadUnsafe(ref first, (nuint)(i + 16));
            s2 += Vector512.LoadUnsafe(ref first, (nuint)(i + 32));
            s3 += Vector512.LoadUnsafe(ref first, (nuint)(i + 48));
        }

        return Vector512.Sum((s0 + s1) + (s2 + s3));
    }
}
