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
        _ => throw new ArgumentException($"No ONNX Runtime tensor for {data.GetType()}.", nameof(data)),
    };
}

/// <summary>
/// Prefill against ONNX Runtime in the same process and on the same inputs: H = 8 heads of HeadDim, N queries against N
/// keys, one batch entry. ONNX Runtime runs the ai.onnx <c>Attention</c> operator (opset 23) in the layout of the
/// case, and, in the token-major layout that ONNX Runtime's contrib operators take, <c>MultiHeadAttention</c> (not causal) or
/// <c>GroupQueryAttention</c> (causal: it has no other mode). Each peer's output is checked against ours before anything is timed.
/// </summary>
public abstract class PeerPrefillBase : PrefillBase
{
    private readonly List<OrtOperator> _operators = new();
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
        _attention = Check(Attention23(), "Attention (opset 23)", expected);
        if (Layout == AttentionLayout.Bshd)
        {
            _contrib = Check(Causal ? GroupQueryAttention() : MultiHeadAttention(), Causal ? "GroupQueryAttention" : "MultiHeadAttention", expected);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _operators.ForEach(o => o.Dispose());
        _operators.Clear();
    }

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
        var present = new OnnxTensor("present_key", OnnxTensor.Float, 1, Heads, N, HeadDim);
        var presentValue = present with { Name = "present_value" };
        long[] shape = [1, N, Heads * HeadDim];
        byte[] model = OnnxGraph.OneNode("GroupQueryAttention", "com.microsoft", 23,
            [new("query", OnnxTensor.Float, shape), new("key", OnnxTensor.Float, shape), new("value", OnnxTensor.Float, shape), null, null,
             new("seqlens_k", OnnxTensor.Int32, 1), new("total_sequence_length", OnnxTensor.Int32)],
            [new("output", OnnxTensor.Float, shape), present, presentValue],
            new OnnxAttribute("num_heads", Int: Heads), new OnnxAttribute("kv_num_heads", Int: Heads));
        return Add(new OrtOperator(model, Threads,
            [(new("query", OnnxTensor.Float, shape), Query), (new("key", OnnxTensor.Float, shape), Key), (new("value", OnnxTensor.Float, shape), Value),
             (new("seqlens_k", OnnxTensor.Int32, 1), new[] { N - 1 }), (new("total_sequence_length", OnnxTensor.Int32), new[] { N })],
            [(new("output", OnnxTensor.Float, shape), Output), (present, new float[Heads * N * HeadDim]), (presentValue, new float[Heads * N * HeadDim])]));
    }

    /// <summary>A float operator whose inputs and outputs all have one shape.</summary>
    private OrtOperator Operator(
        string opType, string domain, (string Name, float[] Data)[] inputs, (string Name, float[] Data)[] outputs, long[] shape, params OnnxAttribute[] attributes)
    {
        OnnxTensor Tensor(string name) => new(name, OnnxTensor.Float, shape);
        byte[] model = OnnxGraph.OneNode(opType, domain, 23, inputs.Select(i => (OnnxTensor?)Tensor(i.Name)).ToList(), outputs.Select(o => (OnnxTensor?)Tensor(o.Name)).ToList(), attributes);
        return Add(new OrtOperator(model, Threads, inputs.Select(i => (Tensor(i.Name), (Array)i.Data)), outputs.Select(o => (Tensor(o.Name), (Array)o.Data))));
    }

    private OrtOperator Add(OrtOperator op)
    {
        _operators.Add(op);
        return op;
    }

    /// <summary>Runs <paramref name="op"/> once and checks its output against ours, so that every peer computes the same thing.</summary>
    private OrtOperator Check(OrtOperator op, string name, float[] expected)
    {
        Array.Clear(Output);
        op.Run();
        float worst = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(Output[i] - expected[i]));
        }

        if (!(worst <= 1e-4f))
        {
            throw new InvalidOperationException($"ONNX Runtime's {name} differs from Attention.Gen by up to {worst} (N = {N}, d = {HeadDim}, causal = {Causal}, {Layout}).");
        }

        return op;
    }

    /// <summary>The fastest ONNX Runtime operator of the case, for the ratio column: ours is the <see cref="Generated"/> case.</summary>
    public static bool IsOurs(string methodName) => methodName == nameof(Generated);
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
