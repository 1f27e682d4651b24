using System;
using System.Linq;
using AttentionGen;
using BenchmarkDotNet.Attributes;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;
using SentenceEmbeddings;

namespace Benchmarks;

/// <summary>
/// The whole all-MiniLM-L6-v2 encoder on a padded batch: Attention.Gen's (Samples/SentenceEmbeddings: the generated
/// attention layer, the FFN on the library's Linear, only the real tokens computed) against ONNX
/// Runtime's on the same model.onnx, which computes every padded position. The batch is the sample's 20 default
/// sentences, cycled from the first: batch 1 is "Hello" (3 tokens), batch 8 pads 95 real tokens to 8 × 23, batch 32
/// pads 551 to 32 × 128.
/// </summary>
public class Encoder
{
    private MiniLmEncoder _encoder = null!;
    private InferenceSession _session = null!;
    private MiniLm.Batch _tokens = null!;

    [Params(1, 8, 32)]
    public int Batch { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        byte[] model = MiniLm.ModelBytes();
        _encoder = new MiniLmEncoder(OnnxModel.Load(model));
        var options = new SessionOptions { IntraOpNumThreads = Threads, InterOpNumThreads = 1 };
        _session = new InferenceSession(model, options);
        string[] defaults = MiniLm.DefaultSentences().ToArray();
        BertTokenizer tokenizer = MiniLm.Tokenizer();
        _tokens = MiniLm.Tokenize(tokenizer, Enumerable.Range(0, Batch).Select(i => defaults[i % defaults.Length]).ToArray());
        AttentionRuntime.MaxDegreeOfParallelism = Threads;
    }

    [GlobalCleanup]
    public void Cleanup() => _session.Dispose();

    [Benchmark(Description = "Attention.Gen encoder")]
    public float[] Ours() => _encoder.Encode(_tokens.InputIds, Batch, _tokens.Length, _tokens.Lengths);

    [Benchmark(Description = "ONNX Runtime encoder")]
    public float[] OnnxRuntime() => MiniLm.RunOnnxRuntime(_session, _tokens);
}

/// <summary>
/// Where the encoder's time goes: each phase of <see cref="MiniLmEncoder.Encode"/> run on its own, over all six layers,
/// on the same padded batches as <see cref="Encoder"/>: the generated attention layer (W_q, W_k and W_v in one pass, the
/// kernel, W_o), the kernel alone as the layer runs it, on inputs of the same shapes (the projections are the difference), the
/// feed-forward network (both matrices and GELU together, then each matrix apart and W1 followed by GELU), and the two residual adds and LayerNorms per layer.
/// </summary>
public class EncoderPhases
{
    private MiniLmEncoder _encoder = null!;
    private MiniLmEncoder.Workspace _workspace = null!;
    private float[] _query = null!, _key = null!, _value = null!, _context = null!;

    [Params(8, 32)]
    public int Batch { get; set; }

    /// <summary>One thread, the setting whose shares say most about the kernels themselves.</summary>
    [Params(1)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _encoder = new MiniLmEncoder(OnnxModel.Load(MiniLm.ModelBytes()));
        string[] defaults = MiniLm.DefaultSentences().ToArray();
        MiniLm.Batch tokens = MiniLm.Tokenize(MiniLm.Tokenizer(), Enumerable.Range(0, Batch).Select(i => defaults[i % defaults.Length]).ToArray());
        _workspace = _encoder.CreateWorkspace(tokens.InputIds, Batch, tokens.Length, tokens.Lengths);
        int elements = _workspace.Tokens * MiniLmEncoder.Hidden;
        var random = new Random(1);
        float[] Random() => Enumerable.Range(0, elements).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        (_query, _key, _value, _context) = (Random(), Random(), Random(), new float[elements]);
        AttentionRuntime.MaxDegreeOfParallelism = Threads;
    }

    [Benchmark(Description = "Attention layer (projections and kernel)")]
    public void AttentionLayer()
    {
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            _encoder.Attend(_workspace, l);
        }
    }

    /// <summary>The kernel as the layer runs it with key padding alone: each sentence's real tokens on their own.</summary>
    [Benchmark(Description = "Attention kernel alone")]
    public void Attention()
    {
        int length = _workspace.Length, width = MiniLmEncoder.Hidden;
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            for (int b = 0; b < _workspace.Batch; b++)
            {
                int n = _workspace.Lengths[b], start = b * length * width;
                MiniLmAttention.Forward(_query.AsSpan(start, n * width), _key.AsSpan(start, n * width), _value.AsSpan(start, n * width),
                    _context.AsSpan(start, n * width), 1, n, n, _workspace.Lengths.AsSpan(b, 1));
            }
        }
    }

    [Benchmark(Description = "Feed-forward (both matrices, GELU)")]
    public void FeedForward()
    {
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            _encoder.FeedForward(_workspace, l);
        }
    }

    [Benchmark(Description = "Feed-forward W1 (384 to 1536)")]
    public void FeedForwardUp()
    {
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            _encoder.FeedForwardUp(_workspace, l);
        }
    }

    /// <summary>
    /// W1 and then GELU on its output: GELU's time is this minus <see cref="FeedForwardUp"/>. (GELU alone would run
    /// on its own output, call after call, and drift towards zero and subnormal numbers.)
    /// </summary>
    [Benchmark(Description = "Feed-forward W1, then GELU")]
    public void FeedForwardUpAndGelu()
    {
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            _encoder.FeedForwardUp(_workspace, l);
            MiniLmEncoder.Activate(_workspace);
        }
    }

    [Benchmark(Description = "Feed-forward W2 (1536 to 384)")]
    public void FeedForwardDown()
    {
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            _encoder.FeedForwardDown(_workspace, l);
        }
    }

    [Benchmark(Description = "Residuals and LayerNorms")]
    public void Normalization()
    {
        for (int l = 0; l < MiniLmEncoder.LayerCount; l++)
        {
            _encoder.NormalizeAttention(_workspace, l);
            _encoder.NormalizeOutput(_workspace, l);
        }
    }
}
