using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen;
using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;

namespace Benchmarks;

/// <summary>
/// One ONNX Runtime operator on fixed inputs and outputs: a one-node model (<see cref="OnnxGraph"/>), a session with
/// the benchmark's thread count, and the tensors bound once, so that a timed call is the operator's run alone.
/// </summary>
public sealed class OrtOperator : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _options = new();
    private readonly string[] _inputNames, _outputNames;
    private readonly OrtValue[] _inputs, _outputs;

    /// <param name="model">The model, from <see cref="OnnxGraph.OneNode"/>.</param>
    /// <param name="threads">ONNX Runtime's intra-op threads.</param>
    /// <param name="inputs">The graph's inputs by name, with their data.</param>
    /// <param name="outputs">The graph's outputs by name, with the buffers to write.</param>
    public OrtOperator(byte[] model, int threads, IEnumerable<(OnnxTensor Tensor, Array Data)> inputs, IEnumerable<(OnnxTensor Tensor, Array Data)> outputs)
    {
        var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(model, options);
        (_inputNames, _inputs) = Bind(inputs);
        (_outputNames, _outputs) = Bind(outputs);
    }

    /// <summary>
    /// A one-node model of <paramref name="opType"/> over these inputs and outputs, each a tensor with its data (null for
    /// an optional one left out), run with <paramref name="threads"/> threads.
    /// </summary>
    public static OrtOperator OneNode(
        string opType, string domain, int threads, (OnnxTensor Tensor, Array Data)?[] inputs, (OnnxTensor Tensor, Array Data)[] outputs,
        params OnnxAttribute[] attributes)
    {
        byte[] model = OnnxGraph.OneNode(opType, domain, 23, inputs.Select(i => i?.Tensor).ToList(), outputs.Select(o => (OnnxTensor?)o.Tensor).ToList(), attributes);
        return new OrtOperator(model, threads, inputs.Where(i => i is not null).Select(i => i!.Value), outputs);
    }

    public void Run() => _session.Run(_options, _inputNames, _inputs, _outputNames, _outputs);

    public void Dispose()
    {
        foreach (OrtValue value in _inputs.Concat(_outputs))
        {
            value.Dispose();
        }

        _options.Dispose();
        _session.Dispose();
    }

    private static (string[] Names, OrtValue[] Values) Bind(IEnumerable<(OnnxTensor Tensor, Array Data)> tensors)
    {
        var list = tensors.ToList();
        return (list.Select(t => t.Tensor.Name).ToArray(), list.Select(t => Value(t.Tensor, t.Data)).ToArray());
    }

    private static OrtValue Value(OnnxTensor tensor, Array data) => data switch
    {
        float[] floats => OrtValue.CreateTensorValueFromMemory(floats, tensor.Shape),
        Float16[] halves => OrtValue.CreateTensorValueFromMemory(halves, tensor.Shape),
        int[] ints => OrtValue.CreateTensorValueFromMemory(ints, tensor.Shape),
        bool[] bools => OrtValue.CreateTensorValueFromMemory(bools, tensor.Shape),
        _ => throw new ArgumentException($"No ONNX Runtime tensor for {data.GetType()}.", nameof(data)),
    };
}

/// <summary>The ONNX Runtime operators of one benchmark case: made, checked against ours, and disposed together.</summary>
public sealed class OrtOperators : IDisposable
{
    private readonly List<OrtOperator> _operators = new();

    /// <summary>
    /// Keeps <paramref name="op"/>, runs it once and checks what it wrote to <paramref name="output"/> (cleared first, since
    /// ours wrote there too) against ours, so that every peer computes the same thing before anything is timed.
    /// </summary>
    public OrtOperator Checked(OrtOperator op, float[] output, float[] expected, string what)
    {
        Array.Clear(output);
        return Checked(op, () => output, expected, what, 1e-4f);
    }

    /// <summary>Keeps <paramref name="op"/>, runs it once and checks its output, as <paramref name="read"/> gives it in floats, against ours.</summary>
    public OrtOperator Checked(OrtOperator op, Func<float[]> read, float[] expected, string what, float tolerance)
    {
        _operators.Add(op);
        op.Run();
        float[] output = read();
        float worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(output[i] - expected[i]));
        }

        if (!(worst <= tolerance))
        {
            throw new InvalidOperationException($"ONNX Runtime's {what} differs from Attention.Gen by up to {worst}.");
        }

        return op;
    }

    public void Dispose()
    {
        _operators.ForEach(o => o.Dispose());
        _operators.Clear();
    }
}

/// <summary>
/// Prefill against ONNX Runtime in the same process and on the same inputs: H = 8 heads of HeadDim, N queries against N
/// keys, one batch entry. ONNX Runtime runs the ai.onnx <c>Attention</c> operator (opset 23) in the layout of the
/// case, and, in the token-major layout that ONNX Runtime's contrib operators take, <c>MultiHeadAttention</c> (not causal) or
/// <c>GroupQueryAttention</c> (causal: it has no other mode). Each peer's output is checked against ours before anything is timed.
/// </summary>
public abstract class PeerPrefillBase : PrefillBase
{
    private readonly OrtOperators _operators = new();
    private OrtOperator _attention = null!;
    private OrtOperator? _contrib;

    [Params(128, 512, 2048, 4096)]
    public override int N { get; set; }

    [Params(32, 64, 128)]
    public override int HeadDim { get; set; }

    [Params(false, true)]
    public override bool Causal { get; set; }

    [Params(1, 2)]
    public override int Threads { get; set; }

    protected abstract AttentionLayout Layout { get; }

    /// <summary>MultiHeadAttention or GroupQueryAttention, made in the token-major layout only.</summary>
    protected OrtOperator Contrib => _contrib ?? throw new InvalidOperationException("ONNX Runtime's contrib operators take the token-major layout only.");

    public override void Setup()
    {
        base.Setup();
        Generated();
        float[] expected = (float[])Output.Clone();
        string shape = $"(N = {N}, d = {HeadDim}, causal = {Causal}, {Layout})";
        _attention = _operators.Checked(Attention23(), Output, expected, "Attention (opset 23) " + shape);
        if (Layout == AttentionLayout.Bshd)
        {
            _contrib = _operators.Checked(Causal ? GroupQueryAttention() : MultiHeadAttention(), Output, expected,
                (Causal ? "GroupQueryAttention " : "MultiHeadAttention ") + shape);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _operators.Dispose();

    [Benchmark(Description = "Attention.Gen")]
    public void Generated() => PrefillKernels.Forward(Layout, HeadDim, Causal, Query, Key, Value, Output, N);

    [Benchmark(Description = "ORT Attention (opset 23)")]
    public void OrtAttention() => _attention.Run();

    /// <summary>The ai.onnx operator: [1, H, N, d] tensors head-major, [1, N, H·d] token-major with its head counts.</summary>
    private OrtOperator Attention23()
    {
        long[] shape = Layout == AttentionLayout.Bhsd ? [1, Heads, N, HeadDim] : [1, N, Heads * HeadDim];
        var attributes = new List<OnnxAttribute> { new("is_causal", Int: Causal ? 1 : 0) };
        if (Layout == AttentionLayout.Bshd)
        {
            attributes.Add(new("q_num_heads", Int: Heads));
            attributes.Add(new("kv_num_heads", Int: Heads));
        }

        return Operator("Attention", "", [("Q", Query), ("K", Key), ("V", Value)], [("Y", Output)], shape, [.. attributes]);
    }

    /// <summary>com.microsoft MultiHeadAttention: query, key and value [1, N, H·d], no mask.</summary>
    private OrtOperator MultiHeadAttention() =>
        Operator("MultiHeadAttention", "com.microsoft", [("query", Query), ("key", Key), ("value", Value)], [("output", Output)],
            [1, N, Heads * HeadDim], new OnnxAttribute("num_heads", Int: Heads));

    /// <summary>
    /// com.microsoft GroupQueryAttention as a prompt: no past, seqlens_k = N − 1 and total_sequence_length = N; it also
    /// writes the present keys and values, [1, H, N, d], as it always does.
    /// </summary>
    private OrtOperator GroupQueryAttention()
    {
        long[] shape = [1, N, Heads * HeadDim];
        return OrtOperator.OneNode("GroupQueryAttention", "com.microsoft", Threads,
            [(new("query", OnnxTensor.Float, shape), Query), (new("key", OnnxTensor.Float, shape), Key), (new("value", OnnxTensor.Float, shape), Value), null, null,
             (new("seqlens_k", OnnxTensor.Int32, 1), new[] { N - 1 }), (new("total_sequence_length", OnnxTensor.Int32), new[] { N })],
            [(new("output", OnnxTensor.Float, shape), Output),
             (new("present_key", OnnxTensor.Float, 1, Heads, N, HeadDim), new float[Heads * N * HeadDim]),
             (new("present_value", OnnxTensor.Float, 1, Heads, N, HeadDim), new float[Heads * N * HeadDim])],
            new OnnxAttribute("num_heads", Int: Heads), new OnnxAttribute("kv_num_heads", Int: Heads));
    }

    /// <summary>A float operator whose inputs and outputs all have one shape.</summary>
    private OrtOperator Operator(
        string opType, string domain, (string Name, float[] Data)[] inputs, (string Name, float[] Data)[] outputs, long[] shape, params OnnxAttribute[] attributes) =>
        OrtOperator.OneNode(opType, domain, Threads,
            inputs.Select(i => ((OnnxTensor, Array)?)(new OnnxTensor(i.Name, OnnxTensor.Float, shape), i.Data)).ToArray(),
            outputs.Select(o => (new OnnxTensor(o.Name, OnnxTensor.Float, shape), (Array)o.Data)).ToArray(), attributes);
}

/// <summary>The peers in the head-major layout, [1, H, N, d]: ours and ONNX's Attention.</summary>
public class PrefillPeersBhsd : PeerPrefillBase
{
    protected override AttentionLayout Layout => AttentionLayout.Bhsd;
}

/// <summary>
/// The peers in the token-major layout, [1, N, H·d], what a projection writes: ours, ONNX's Attention, and ONNX
/// Runtime's MultiHeadAttention or GroupQueryAttention.
/// </summary>
public class PrefillPeersBshd : PeerPrefillBase
{
    [Benchmark(Description = "ORT MultiHeadAttention / GroupQueryAttention")]
    public void OrtContrib() => Contrib.Run();

    protected override AttentionLayout Layout => AttentionLayout.Bshd;
}

/// <summary>The two encoder shapes of the peer comparison, with our kernel for each.</summary>
public enum EncoderShape
{
    /// <summary>BERT-base: batch 8, N = 128, 12 heads of 64, no padding.</summary>
    BertBase,

    /// <summary>all-MiniLM-L6-v2: batch 32, N = 128, 12 heads of 32, the keys past each sentence's length masked.</summary>
    MiniLm,
}

/// <summary>
/// Encoder attention against ONNX Runtime, token-major [batch, 128, 12·d] as a projection writes it: BERT-base (batch
/// 8, d = 64) and MiniLM (batch 32, d = 32, padded: the lengths of the sample's default sentences, cycled, 1 to 128
/// tokens). ONNX Runtime runs ai.onnx Attention (opset 23; a boolean mask [batch, 1, 128, 128] for the padding) and
/// com.microsoft MultiHeadAttention (a key_padding_mask [batch, 128] of ones and zeros). Every query row is computed,
/// padding or not, as all three do.
/// </summary>
public class EncoderPeers
{
    private const int Length = 128, Heads = 12;
    private readonly OrtOperators _operators = new();
    private float[] _query = [], _key = [], _value = [], _output = [];
    private int[] _lengths = [];
    private OrtOperator _attention = null!, _multiHead = null!;

    [Params(EncoderShape.BertBase, EncoderShape.MiniLm)]
    public EncoderShape Shape { get; set; }

    [Params(1, 2)]
    public int Threads { get; set; }

    private int Batch => Shape == EncoderShape.BertBase ? 8 : 32;

    private int HeadDim => Shape == EncoderShape.BertBase ? 64 : 32;

    /// <summary>The multiply-adds counted: 4 · 128 queries · the entry's valid keys · d · 12, summed over the batch.</summary>
    public static double Flops(EncoderShape shape) =>
        4.0 * Length * Lengths(shape).Sum() * (shape == EncoderShape.BertBase ? 64 : 32) * Heads;

    /// <summary>The valid keys of each entry (read, not written: the flop column asks for them once per cell).</summary>
    public static int[] Lengths(EncoderShape shape) => shape == EncoderShape.BertBase ? s_bertLengths : s_miniLmLengths.Value;

    private static readonly int[] s_bertLengths = Enumerable.Repeat(Length, 8).ToArray();

    /// <summary>The token counts of the sample's default sentences, cycled to 32, the tokenizer loaded once.</summary>
    private static readonly Lazy<int[]> s_miniLmLengths = new(() =>
    {
        string[] sentences = SentenceEmbeddings.MiniLm.DefaultSentences().ToArray();
        var tokens = SentenceEmbeddings.MiniLm.Tokenize(SentenceEmbeddings.MiniLm.Tokenizer(), Enumerable.Range(0, 32).Select(i => sentences[i % sentences.Length]).ToArray());
        return tokens.Lengths.Select(l => Math.Min(l, Length)).ToArray();
    });

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        int elements = Batch * Length * Heads * HeadDim;
        float[] Fill() => Enumerable.Range(0, elements).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        (_query, _key, _value, _output) = (Fill(), Fill(), Fill(), new float[elements]);
        _lengths = Lengths(Shape);
        AttentionRuntime.MaxDegreeOfParallelism = Threads;

        Generated();
        float[] expected = (float[])_output.Clone();
        long[] shape = [Batch, Length, Heads * HeadDim];
        (OnnxTensor, Array)?[] Qkv(string q, string k, string v) =>
            [(new(q, OnnxTensor.Float, shape), _query), (new(k, OnnxTensor.Float, shape), _key), (new(v, OnnxTensor.Float, shape), _value)];
        bool padded = Shape == EncoderShape.MiniLm;
        bool[] keep = Enumerable.Range(0, Batch * Length).Select(i => i % Length < _lengths[i / Length]).ToArray();
        // ONNX Runtime takes an attn_mask with the query axis whole: [batch, 1, 128, 128].
        bool[] keepPerQuery = Enumerable.Range(0, Batch * Length * Length).Select(i => i % Length < _lengths[i / (Length * Length)]).ToArray();

        _attention = _operators.Checked(OrtOperator.OneNode("Attention", "", Threads,
            [.. Qkv("Q", "K", "V"), .. padded ? new (OnnxTensor, Array)?[] { (new("attn_mask", OnnxTensor.Bool, Batch, 1, Length, Length), keepPerQuery) } : []],
            [(new("Y", OnnxTensor.Float, shape), _output)],
            new OnnxAttribute("q_num_heads", Int: Heads), new OnnxAttribute("kv_num_heads", Int: Heads)), _output, expected, $"Attention (opset 23), {Shape}");
        _multiHead = _operators.Checked(OrtOperator.OneNode("MultiHeadAttention", "com.microsoft", Threads,
            [.. Qkv("query", "key", "value"), .. padded
                ? new (OnnxTensor, Array)?[] { null, (new("key_padding_mask", OnnxTensor.Int32, Batch, Length), keep.Select(k => k ? 1 : 0).ToArray()) }
                : []],
            [(new("output", OnnxTensor.Float, shape), _output)],
            new OnnxAttribute("num_heads", Int: Heads)), _output, expected, $"MultiHeadAttention, {Shape}");
    }

    [GlobalCleanup]
    public void Cleanup() => _operators.Dispose();

    [Benchmark(Description = "Attention.Gen")]
    public void Generated()
    {
        if (Shape == EncoderShape.BertBase)
        {
            BertBaseAttention.Forward(_query, _key, _value, _output, Batch, Length, Length);
        }
        else
        {
            MiniLmShapeAttention.Forward(_query, _key, _value, _output, Batch, Length, Length, _lengths);
        }
    }

    [Benchmark(Description = "ORT Attention (opset 23)")]
    public void OrtAttention() => _attention.Run();

    [Benchmark(Description = "ORT MultiHeadAttention")]
    public void OrtMultiHeadAttention() => _multiHead.Run();
}
