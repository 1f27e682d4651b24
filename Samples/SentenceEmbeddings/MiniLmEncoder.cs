using System;
using System.Numerics;
using System.Numerics.Tensors;
using AttentionGen;

namespace SentenceEmbeddings;

/// <summary>
/// all-MiniLM-L6-v2's self-attention layer: W_q, W_k and W_v from the hidden size of 384 to 12 heads of 32, the kernel
/// over a padded batch with keys past each sentence's length masked, and W_o back to 384.
/// </summary>
[Attention(Heads = 12, HeadDim = 32, Mask = AttentionMask.KeyPadding)]
[AttentionProjections(QuerySize = MiniLmEncoder.Hidden)]
public static partial class MiniLmAttention;

/// <summary>
/// The BERT encoder of all-MiniLM-L6-v2 (6 layers, hidden size 384, FFN 1536, GELU through erf, post-LayerNorm),
/// with its own weights, read from the model.onnx that ONNX Runtime runs too. Each layer's attention is the generated
/// <see cref="MiniLmAttention.Layer"/> (its projections, Q, K and V in one pass, and the kernel), the feed-forward
/// matrices are the library's <see cref="Linear"/>, and the residuals, GELU and LayerNorm are written out here. Only
/// the real tokens of a padded batch are computed: padding is masked out of attention and skipped by every other step.
/// </summary>
/// <remarks>An encoder reuses one workspace from call to call, so it runs one batch at a time: use one per thread.</remarks>
public sealed class MiniLmEncoder
{
    public const int Hidden = 384;
    private const int Layers = 6, Intermediate = 1536;

    private readonly float[] _wordEmbeddings, _positionEmbeddings, _tokenTypeEmbeddings, _embeddingNormWeight, _embeddingNormBias;
    private readonly Layer[] _layers = new Layer[Layers];
    private readonly float _epsilon;
    private readonly int _maxPositions;
    private Workspace? _workspace;

    public MiniLmEncoder(OnnxModel model)
    {
        _wordEmbeddings = model.Initializer("embeddings.word_embeddings.weight");
        _positionEmbeddings = model.Initializer("embeddings.position_embeddings.weight");
        _maxPositions = model.Shape("embeddings.position_embeddings.weight")[0];
        _tokenTypeEmbeddings = model.Initializer("embeddings.token_type_embeddings.weight");
        _embeddingNormWeight = model.Initializer("embeddings.LayerNorm.weight");
        _embeddingNormBias = model.Initializer("embeddings.LayerNorm.bias");
        _epsilon = model.LayerNormEpsilon();
        for (int l = 0; l < Layers; l++)
        {
            string p = $"encoder.layer.{l}.";
            _layers[l] = new Layer(
                new MiniLmAttention.Layer(
                    model.LinearWeight(p + "attention.self.query.bias", out _, out _), model.Initializer(p + "attention.self.query.bias"),
                    model.LinearWeight(p + "attention.self.key.bias", out _, out _), model.Initializer(p + "attention.self.key.bias"),
                    model.LinearWeight(p + "attention.self.value.bias", out _, out _), model.Initializer(p + "attention.self.value.bias"),
                    model.LinearWeight(p + "attention.output.dense.bias", out _, out _), model.Initializer(p + "attention.output.dense.bias")),
                model.Initializer(p + "attention.output.LayerNorm.weight"), model.Initializer(p + "attention.output.LayerNorm.bias"),
                Dense(model, p + "intermediate.dense.bias"),
                Dense(model, p + "output.dense.bias"),
                model.Initializer(p + "output.LayerNorm.weight"), model.Initializer(p + "output.LayerNorm.bias"));
        }
    }

    /// <summary>
    /// The last hidden state, [batch, length, 384], of token ids padded to <paramref name="length"/>; entry b's first
    /// <c>lengths[b]</c> tokens are real, and padding is never attended to.
    /// </summary>
    /// <param name="inputIds">The token ids, [batch, length].</param>
    /// <param name="batch">Sentences in the batch.</param>
    /// <param name="length">Tokens per sentence, padding included.</param>
    /// <param name="lengths">Real tokens of each sentence.</param>
    /// <param name="observeAttention">Called with each layer's index and the workspace before its attention, to look at it (<see cref="AttentionWeights"/>).</param>
    /// <returns>The workspace's hidden state, valid until the next call. Rows of padding are not computed.</returns>
    public float[] Encode(long[] inputIds, int batch, int length, int[] lengths, Action<int, Workspace>? observeAttention = null)
    {
        Workspace w = CreateWorkspace(inputIds, batch, length, lengths);
        for (int l = 0; l < Layers; l++)
        {
            // Self-attention: the generated layer, then the residual and LayerNorm.
            observeAttention?.Invoke(l, w);
            Attend(w, l);
            NormalizeAttention(w, l);

            // Feed-forward: GELU(x · W1 + b1) · W2 + b2, then the residual and LayerNorm.
            FeedForward(w, l);
            NormalizeOutput(w, l);
        }

        return w.X;
    }

    /// <summary>The layers of the encoder.</summary>
    public static int LayerCount => Layers;

    /// <summary>
    /// One batch's buffers, with the embeddings of its tokens in <see cref="X"/>: what <see cref="Encode"/> runs the layers
    /// on, phase by phase (<see cref="Attend"/>, <see cref="NormalizeAttention"/>, <see cref="FeedForward"/>,
    /// <see cref="NormalizeOutput"/>), which a benchmark can also time one at a time. It is the encoder's one workspace,
    /// grown when a batch needs more room than it has.
    /// </summary>
    public Workspace CreateWorkspace(long[] inputIds, int batch, int length, int[] lengths)
    {
        if (length > _maxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"The model has {_maxPositions} positions.");
        }

        if (_workspace is null || _workspace.Capacity < batch * length)
        {
            _workspace = new Workspace(batch * length);
        }

        Workspace w = _workspace;
        w.Reset(batch, length, lengths);
        foreach (int t in w.RealRows)
        {
            Span<float> row = w.X.AsSpan(t * Hidden, Hidden);
            int id = checked((int)inputIds[t]);
            TensorPrimitives.Add(_wordEmbeddings.AsSpan(id * Hidden, Hidden), _positionEmbeddings.AsSpan(t % length * Hidden, Hidden), row);
            TensorPrimitives.Add(row, _tokenTypeEmbeddings.AsSpan(0, Hidden), row); // token type 0: one segment
        }

        LayerNorm(w, w.X, _embeddingNormWeight, _embeddingNormBias);
        return w;
    }

    /// <summary>
    /// Layer <paramref name="l"/>'s self-attention over the hidden state, into <see cref="Workspace.Projected"/>: the generated
    /// layer projects the real tokens' queries, keys and values in one pass, runs the kernel with padding masked, and
    /// projects its output.
    /// </summary>
    public void Attend(Workspace w, int l) =>
        _layers[l].Attention.Forward(w.X.AsSpan(0, w.Tokens * Hidden), w.Projected.AsSpan(0, w.Tokens * Hidden), w.Batch, w.Length, w.Lengths);

    /// <summary>
    /// Layer <paramref name="l"/>'s attention probabilities for the workspace's hidden state, [batch, 12 heads, length,
    /// length], from the generated layer's weights overload: what the heat maps show. The hidden state is unchanged.
    /// </summary>
    public float[] AttentionWeights(Workspace w, int l)
    {
        var weights = new float[w.Batch * MiniLmAttention.Heads * w.Length * w.Length];
        _layers[l].Attention.Forward(w.X.AsSpan(0, w.Tokens * Hidden), new float[w.Tokens * Hidden], w.Batch, w.Length, w.Lengths,
            weights, AttentionGen.AttentionWeights.Probabilities);
        return weights;
    }

    /// <summary>The attention block's residual and LayerNorm.</summary>
    public void NormalizeAttention(Workspace w, int l) => AddAndNormalize(w, _layers[l].AttentionNormWeight, _layers[l].AttentionNormBias);

    /// <summary>Layer <paramref name="l"/>'s feed-forward network, GELU(x · W1 + b1) · W2 + b2.</summary>
    public void FeedForward(Workspace w, int l)
    {
        FeedForwardUp(w, l);
        Activate(w);
        FeedForwardDown(w, l);
    }

    /// <summary>The feed-forward network's first matrix, x · W1 + b1 (384 to 1536), into <see cref="Workspace.Intermediate"/>.</summary>
    public void FeedForwardUp(Workspace w, int l) =>
        _layers[l].Up.Apply(w.X.AsSpan(0, w.Tokens * Hidden), w.Intermediate.AsSpan(0, w.Tokens * Intermediate), w.Tokens, w.RealRows);

    /// <summary>GELU over <see cref="Workspace.Intermediate"/>, in place.</summary>
    public static void Activate(Workspace w)
    {
        foreach (int t in w.RealRows)
        {
            Gelu(w.Intermediate.AsSpan(t * Intermediate, Intermediate));
        }
    }

    /// <summary>The feed-forward network's second matrix, GELU(…) · W2 + b2 (1536 to 384), into <see cref="Workspace.Projected"/>.</summary>
    public void FeedForwardDown(Workspace w, int l) =>
        _layers[l].Down.Apply(w.Intermediate.AsSpan(0, w.Tokens * Intermediate), w.Projected.AsSpan(0, w.Tokens * Hidden), w.Tokens, w.RealRows);

    /// <summary>The feed-forward block's residual and LayerNorm.</summary>
    public void NormalizeOutput(Workspace w, int l) => AddAndNormalize(w, _layers[l].OutputNormWeight, _layers[l].OutputNormBias);

    /// <summary>x = LayerNorm(x + projected), token by token.</summary>
    private void AddAndNormalize(Workspace w, float[] weight, float[] bias)
    {
        foreach (int t in w.RealRows)
        {
            Span<float> row = w.X.AsSpan(t * Hidden, Hidden);
            TensorPrimitives.Add(w.Projected.AsSpan(t * Hidden, Hidden), row, row);
        }

        LayerNorm(w, w.X, weight, bias);
    }

    /// <summary>The buffers of a padded batch through the encoder, reused from batch to batch.</summary>
    public sealed class Workspace
    {
        private int[] _realRows;
        private int _realCount;

        internal Workspace(int capacity)
        {
            Capacity = capacity;
            X = new float[capacity * Hidden];
            Projected = new float[capacity * Hidden];
            Intermediate = new float[capacity * MiniLmEncoder.Intermediate];
            _realRows = new int[capacity];
            Lengths = Array.Empty<int>();
        }

        /// <summary>The most tokens (padding included) a batch in this workspace may have.</summary>
        public int Capacity { get; }

        public int Batch { get; private set; }

        public int Length { get; private set; }

        public int[] Lengths { get; private set; }

        /// <summary>Tokens in the batch, padding included: batch · length.</summary>
        public int Tokens { get; private set; }

        /// <summary>The rows of the real tokens, b · length + t for t below entry b's length: the only rows computed.</summary>
        public ReadOnlySpan<int> RealRows => _realRows.AsSpan(0, _realCount);

        /// <summary>The hidden state, [batch, length, 384]: the last one once every layer has run.</summary>
        public float[] X { get; }

        /// <summary>What the attention layer and the feed-forward network add to the hidden state, before the residual.</summary>
        public float[] Projected { get; }

        public float[] Intermediate { get; }

        internal void Reset(int batch, int length, int[] lengths)
        {
            Batch = batch;
            Length = length;
            Lengths = lengths;
            Tokens = batch * length;
            _realCount = 0;
            for (int b = 0; b < batch; b++)
            {
                for (int t = 0; t < lengths[b]; t++)
                {
                    _realRows[_realCount++] = b * length + t;
                }
            }
        }
    }

    /// <summary>Mean of the real tokens' hidden states, L2-normalized: the sentence embedding sentence-transformers computes.</summary>
    public static float[] Pool(ReadOnlySpan<float> hidden, int length, int realTokens)
    {
        var embedding = new float[Hidden];
        for (int t = 0; t < realTokens; t++)
        {
            TensorPrimitives.Add(embedding, hidden.Slice(t * Hidden, Hidden), embedding);
        }

        TensorPrimitives.Divide(embedding, realTokens, embedding);
        TensorPrimitives.Divide(embedding, MathF.Max(TensorPrimitives.Norm(embedding), 1e-12f), embedding);
        return embedding;
    }

    private void LayerNorm(Workspace w, Span<float> x, float[] weight, float[] bias)
    {
        foreach (int t in w.RealRows)
        {
            Span<float> row = x.Slice(t * Hidden, Hidden);
            float mean = TensorPrimitives.Sum(row) / Hidden;
            TensorPrimitives.Subtract(row, mean, row);
            float variance = TensorPrimitives.SumOfSquares(row) / Hidden;
            TensorPrimitives.Multiply(row, 1f / MathF.Sqrt(variance + _epsilon), row);
            TensorPrimitives.FusedMultiplyAdd(row, weight, bias, row);
        }
    }

    /// <summary>
    /// GELU as the export computes it, 0.5 · x · (1 + erf(x / √2)), vector by vector. erf is Abramowitz and Stegun's
    /// 7.1.26 (.NET has no erf): erf(z) = 1 − (a₁t + a₂t² + a₃t³ + a₄t⁴ + a₅t⁵) · e^(−z²), t = 1 / (1 + p·z) for z ≥ 0,
    /// odd in z, within 1.5e-7 of the true value everywhere: below float's rounding of GELU's result.
    /// </summary>
    private static void Gelu(Span<float> x)
    {
        int i = 0;
        for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            Gelu(new Vector<float>(x.Slice(i))).CopyTo(x.Slice(i));
        }

        for (; i < x.Length; i++)
        {
            x[i] = Gelu(new Vector<float>(x[i]))[0];
        }
    }

    private static Vector<float> Gelu(Vector<float> x)
    {
        Vector<float> z = Vector.Abs(x) * 0.70710678f;
        Vector<float> t = Vector<float>.One / (Vector<float>.One + z * 0.3275911f);
        Vector<float> poly = t * (new Vector<float>(0.254829592f) + t * (new Vector<float>(-0.284496736f) + t * (new Vector<float>(1.421413741f)
            + t * (new Vector<float>(-1.453152027f) + t * 1.061405429f))));
        Vector<float> erf = Vector<float>.One - poly * Vector.Exp(-(z * z));
        erf = Vector.ConditionalSelect(Vector.LessThan(x, Vector<float>.Zero), -erf, erf);
        return 0.5f * x * (Vector<float>.One + erf);
    }

    /// <summary>y = x · W + b, from the MatMul weight [inputs, outputs] that feeds the Add of this bias.</summary>
    private static Linear Dense(OnnxModel model, string bias) =>
        new(model.LinearWeight(bias, out int inputs, out int outputs), inputs, outputs, model.Initializer(bias));

    private sealed record Layer(
        MiniLmAttention.Layer Attention, float[] AttentionNormWeight, float[] AttentionNormBias,
        Linear Up, Linear Down, float[] OutputNormWeight, float[] OutputNormBias);
}
