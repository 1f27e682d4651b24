using System;
using System.Linq;
using AttentionGen;
using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;

namespace Benchmarks;

/// <summary>The decode shapes of the peer comparison: 8 query heads on 8 key/value heads, or 32 on 8 (grouped-query), of 128.</summary>
public enum DecodeHeads
{
    /// <summary>Multi-head: 8 query heads, 8 key/value heads.</summary>
    Mha8,

    /// <summary>Grouped-query, as Llama 3 8B: 32 query heads sharing 8 key/value heads.</summary>
    Gqa32x8,
}

/// <summary>
/// One decoding step against ONNX Runtime's GroupQueryAttention (com.microsoft), the operator LLM exports use: one new
/// token's queries against a cache of <see cref="CacheLength"/> tokens of 8 key/value heads of 128, causal. Ours reads a
/// <see cref="KvCache"/> that already holds the new token; ONNX Runtime gets the past tokens as past_key/past_value in one
/// buffer of the whole length that is also its present_key/present_value output (the shared-buffer mode ONNX Runtime GenAI
/// uses, so nothing is copied), plus the new token's key and value. Half: ours stores the cache in halves and computes in
/// floats; ONNX Runtime runs the operator in float16. Memory-bound: GB/s counts the cache's keys and values.
/// </summary>
public class DecodePeers
{
    private const int KvHeads = 8, HeadDim = 128;
    private readonly OrtOperators _operators = new();
    private KvCache _cache = null!;
    private float[] _query = [], _output = [];
    private OrtOperator _groupQuery = null!;

    [Params(DecodeHeads.Mha8, DecodeHeads.Gqa32x8)]
    public DecodeHeads Heads { get; set; }

    [Params(4096, 32768)]
    public int CacheLength { get; set; }

    [Params(KvCachePrecision.Single, KvCachePrecision.Half)]
    public KvCachePrecision Precision { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    private int QueryHeads => Heads == DecodeHeads.Mha8 ? 8 : 32;

    /// <summary>The bytes of keys and values one step reads.</summary>
    public static double Bytes(int cacheLength, KvCachePrecision precision) =>
        (double)cacheLength * KvHeads * 2 * HeadDim * (precision == KvCachePrecision.Single ? sizeof(float) : 2);

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        float[] Fill(int length) => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        int tokenElements = KvHeads * HeadDim;
        float[] keys = Fill(CacheLength * tokenElements), values = Fill(CacheLength * tokenElements);
        _query = Fill(QueryHeads * HeadDim);
        _output = new float[QueryHeads * HeadDim];
        _cache = Heads == DecodeHeads.Mha8 ? Decode128.CreateCache(1, CacheLength, Precision) : Decode128Gqa.CreateCache(1, CacheLength, Precision);
        _cache.Append(keys, values, CacheLength);
        AttentionRuntime.MaxDegreeOfParallelism = Threads;

        Generated();
        float[] expected = (float[])_output.Clone();

        // ONNX Runtime: [1, KvHeads, CacheLength, HeadDim] past/present, head-major, the last token's slot to be written
        // from the new key and value, [1, 1, KvHeads · HeadDim].
        bool half = Precision == KvCachePrecision.Half;
        int element = half ? OnnxTensor.Float16 : OnnxTensor.Float;
        Array Data(float[] source) => half ? source.Select(v => (Float16)v).ToArray() : source;
        float[] past = new float[KvHeads * CacheLength * HeadDim], pastValues = new float[past.Length];
        for (int t = 0; t < CacheLength - 1; t++)
        {
            for (int h = 0; h < KvHeads; h++)
            {
                keys.AsSpan((t * KvHeads + h) * HeadDim, HeadDim).CopyTo(past.AsSpan((h * CacheLength + t) * HeadDim));
                values.AsSpan((t * KvHeads + h) * HeadDim, HeadDim).CopyTo(pastValues.AsSpan((h * CacheLength + t) * HeadDim));
            }
        }

        Array pastKey = Data(past), pastValue = Data(pastValues);
        // Its own output buffer: ours is compared with it.
        Array output = half ? new Float16[_output.Length] : new float[_output.Length];
        var cacheShape = new[] { 1L, KvHeads, CacheLength, HeadDim };
        _groupQuery = OrtOperator.OneNode("GroupQueryAttention", "com.microsoft", Threads,
            [(new("query", element, 1, 1, QueryHeads * HeadDim), Data(_query)),
             (new("key", element, 1, 1, tokenElements), Data(keys.AsSpan((CacheLength - 1) * tokenElements).ToArray())),
             (new("value", element, 1, 1, tokenElements), Data(values.AsSpan((CacheLength - 1) * tokenElements).ToArray())),
             (new("past_key", element, cacheShape), pastKey), (new("past_value", element, cacheShape), pastValue),
             (new("seqlens_k", OnnxTensor.Int32, 1), new[] { CacheLength - 1 }), (new("total_sequence_length", OnnxTensor.Int32), new[] { CacheLength })],
            [(new("output", element, 1, 1, QueryHeads * HeadDim), output),
             (new("present_key", element, cacheShape), pastKey), (new("present_value", element, cacheShape), pastValue)],
            new OnnxAttribute("num_heads", Int: QueryHeads), new OnnxAttribute("kv_num_heads", Int: KvHeads));

        _operators.Checked(_groupQuery, () => half ? ((Float16[])output).Select(v => (float)v).ToArray() : (float[])output, expected,
            $"GroupQueryAttention decode ({Heads}, {CacheLength} tokens, {Precision})", half ? 5e-3f : 1e-4f);
    }

    [GlobalCleanup]
    public void Cleanup() => _operators.Dispose();

    [Benchmark(Description = "Attention.Gen")]
    public void Generated()
    {
        if (Heads == DecodeHeads.Mha8)
        {
            Decode128.Forward(_query, _cache, _output, 1, 1);
        }
        else
        {
            Decode128Gqa.Forward(_query, _cache, _output, 1, 1);
        }
    }

    [Benchmark(Description = "ORT GroupQueryAttention")]
    public void OrtGroupQueryAttention() => _groupQuery.Run();
}
