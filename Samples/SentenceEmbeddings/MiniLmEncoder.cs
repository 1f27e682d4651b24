using System;
using System.Numerics.Tensors;
using AttentionGen;

namespace SentenceEmbeddings;

/// <summary>all-MiniLM-L6-v2's self-attention: 12 heads of 32 over a padded batch, keys past each sentence's length masked.</summary>
[Attention(Heads = 12, HeadDim = 32, Mask = AttentionMask.KeyPadding)]
public static partial class MiniLmAttention;

/// <summary>
/// The BERT encoder of all-MiniLM-L6-v2 (6 layers, hidden size 384, FFN 1536, GELU through erf, post-LayerNorm),
/// with its own weights, read from the model.onnx that ONNX Runtime runs too. Attention is the generated
/// <see cref="MiniLmAttention"/>; the projections, the FFN and LayerNorm are written out here with TensorPrimitives.
/// </summary>
public sealed class MiniLmEncoder
{
    public const int Hidden = 384;
    private const int Layers = 6, Intermediate = 1536;

    private readonly float[] _wordEmbeddings, _positionEmbeddings, _tokenTypeEmbeddings, _embeddingNormWeight, _embeddingNormBias;
    private readonly Layer[] _layers = new Layer[Layers];
    private readonly float _epsilon;
    private readonly int _maxPositions;

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
                Linear.From(model, p + "attention.self.query.bias"),
                Linear.From(model, p + "attention.self.key.bias"),
                Linear.From(model, p + "attention.self.value.bias"),
                Linear.From(model, p + "attention.output.dense.bias"),
                model.Initializer(p + "attention.output.LayerNorm.weight"), model.Initializer(p + "attention.output.LayerNorm.bias"),
                Linear.From(model, p + "intermediate.dense.bias"),
                Linear.From(model, p + "output.dense.bias"),
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
    /// <param name="observeAttention">Called with each layer's index and its queries, keys and values ([batch, length, 384]), to look at its attention.</param>
    public float[] Encode(long[] inputIds, int batch, int length, int[] lengths, Action<int, float[], float[], float[]>? observeAttention = null)
    {
        Workspace w = CreateWorkspace(inputIds, batch, length, lengths);
        for (int l = 0; l < Layers; l++)
        {
            // Self-attention. The projections write [batch, length, 12 heads of 32]: the Bshd layout the kernel reads.
            ProjectQueryKeyValue(w, l);
            observeAttention?.Invoke(l, w.Q, w.K, w.V);
            Attend(w);
            ProjectOutput(w, l);
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
    /// on, phase by phase (<see cref="ProjectQueryKeyValue"/>, <see cref="Attend"/>, <see cref="ProjectOutput"/>,
    /// <see cref="NormalizeAttention"/>, <see cref="FeedForward"/>, <see cref="NormalizeOutput"/>), which a benchmark can
    /// also time one at a time.
    /// </summary>
    public Workspace CreateWorkspace(long[] inputIds, int batch, int length, int[] lengths)
    {
        if (length > _maxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"The model has {_maxPositions} positions.");
        }

        var w = new Workspace(batch, length, lengths);
        for (int t = 0; t < w.Tokens; t++)
        {
            Span<float> row = w.X.AsSpan(t * Hidden, Hidden);
            int id = checked((int)inputIds[t]);
            TensorPrimitives.Add(_wordEmbeddings.AsSpan(id * Hidden, Hidden), _positionEmbeddings.AsSpan(t % length * Hidden, Hidden), row);
            TensorPrimitives.Add(row, _tokenTypeEmbeddings.AsSpan(0, Hidden), row); // token type 0: one segment
        }

        LayerNorm(w.X, _embeddingNormWeight, _embeddingNormBias, w.Tokens);
        return w;
    }

    /// <summary>Layer <paramref name="l"/>'s query, key and value projections of the hidden state.</summary>
    public void ProjectQueryKeyValue(Workspace w, int l)
    {
        _layers[l].Query.Apply(w.X, w.Q, w.Tokens);
        _layers[l].Key.Apply(w.X, w.K, w.Tokens);
        _layers[l].Value.Apply(w.X, w.V, w.Tokens);
    }

    /// <summary>The generated attention kernel, padding masked by each sentence's length.</summary>
    public static void Attend(Workspace w) =>
        MiniLmAttention.Forward(w.Q, w.K, w.V, w.Context, w.Batch, w.Length, w.Length, w.Lengths);

    /// <summary>Layer <paramref name="l"/>'s output projection of the attention's result.</summary>
    public void ProjectOutput(Workspace w, int l) => _layers[l].Output.Apply(w.Context, w.Projected, w.Tokens);

    /// <summary>The attention block's residual and LayerNorm.</summary>
    public void NormalizeAttention(Workspace w, int l)
    {
        TensorPrimitives.Add(w.Projected, w.X, w.X);
        LayerNorm(w.X, _layers[l].AttentionNormWeight, _layers[l].AttentionNormBias, w.Tokens);
    }

    /// <summary>Layer <paramref name="l"/>'s feed-forward network, GELU(x · W1 + b1) · W2 + b2.</summary>
    public void FeedForward(Workspace w, int l)
    {
        _layers[l].Up.Apply(w.X, w.Intermediate, w.Tokens);
        Gelu(w.Intermediate);
        _layers[l].Down.Apply(w.Intermediate, w.Projected, w.Tokens);
    }

    /// <summary>The feed-forward block's residual and LayerNorm.</summary>
    public void NormalizeOutput(Workspace w, int l)
    {
        TensorPrimitives.Add(w.Projected, w.X, w.X);
        LayerNorm(w.X, _layers[l].OutputNormWeight, _layers[l].OutputNormBias, w.Tokens);
    }

    /// <summary>The buffers of one padded batch through the encoder.</summary>
    public sealed class Workspace
    {
        internal Workspace(int batch, int length, int[] lengths)
        {
            Batch = batch;
            Length = length;
            Lengths = lengths;
            Tokens = batch * length;
            X = new float[Tokens * Hidden];
            Q = new float[Tokens * Hidden];
            K = new float[Tokens * Hidden];
            V = new float[Tokens * Hidden];
            Context = new float[Tokens * Hidden];
            Projected = new float[Tokens * Hidden];
            Intermediate = new float[Tokens * MiniLmEncoder.Intermediate];
        }

        public int Batch { get; }

        public int Length { get; }

        public int[] Lengths { get; }

        public int Tokens { get; }

        /// <summary>The hidden state, [batch, length, 384]: the last one once every layer has run.</summary>
        public float[] X { get; }

        public float[] Q { get; }

        public float[] K { get; }

        public float[] V { get; }

        public float[] Context { get; }

        public float[] Projected { get; }

        public float[] Intermediate { get; }
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

    private void LayerNorm(Span<float> x, float[] weight, float[] bias, int tokens)
    {
        for (int t = 0; t < tokens; t++)
        {
            Span<float> row = x.Slice(t * Hidden, Hidden);
            float mean = TensorPrimitives.Sum(row) / Hidden;
            TensorPrimitives.Subtract(row, mean, row);
            float variance = TensorPrimitives.SumOfSquares(row) / Hidden;
            TensorPrimitives.Multiply(row, 1f / MathF.Sqrt(variance + _epsilon), row);
            TensorPrimitives.FusedMultiplyAdd(row, weight, bias, row);
        }
    }

    /// <summary>GELU as the export computes it, 0.5 · x · (1 + erf(x / √2)), which is x · (1 − erfc(x / √2) / 2).</summary>
    private static void Gelu(Span<float> x)
    {
        for (int i = 0; i < x.Length; i++)
        {
            double value = x[i];
            x[i] = (float)(value * (1 - 0.5 * Erfc(value * 0.70710678118654752)));
        }
    }

    /// <summary>
    /// erfc (.NET has neither erf nor erfc) by the Chebyshev fit of Numerical Recipes, relative error below 1.2e-7
    /// everywhere: far below float's rounding of GELU's result.
    /// </summary>
    private static double Erfc(double x)
    {
        double z = Math.Abs(x);
        double t = 1 / (1 + 0.5 * z);
        double r = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }

    /// <summary>y = x · W + b, W stored [inputs, outputs] as the export has it.</summary>
    private sealed record Linear(float[] Weight, float[] Bias, int Inputs, int Outputs)
    {
        public static Linear From(OnnxModel model, string bias)
        {
            float[] weight = model.LinearWeight(bias, out int inputs, out int outputs);
            return new Linear(weight, model.Initializer(bias), inputs, outputs);
        }

        /// <summary>Tokens that share each weight row while it is in L1: 8 rows of outputs of at most 1536 floats fit beside it.</summary>
        private const int TokenBlock = 8;

        public void Apply(ReadOnlySpan<float> x, Span<float> y, int tokens)
        {
            for (int t0 = 0; t0 < tokens; t0 += TokenBlock)
            {
                int count = Math.Min(TokenBlock, tokens - t0);
                for (int t = t0; t < t0 + count; t++)
                {
                    Bias.CopyTo(y.Slice(t * Outputs, Outputs));
                }

                for (int i = 0; i < Inputs; i++)
                {
                    ReadOnlySpan<float> weightRow = Weight.AsSpan(i * Outputs, Outputs);
                    for (int t = t0; t < t0 + count; t++)
                    {
                        Span<float> output = y.Slice(t * Outputs, Outputs);
                        TensorPrimitives.FusedMultiplyAdd(weightRow, x[t * Inputs + i], output, output);
                    }
                }
            }
        }
    }

    private sealed record Layer(
        Linear Query, Linear Key, Linear Value, Linear Output, float[] AttentionNormWeight, float[] AttentionNormBias,
        Linear Up, Linear Down, float[] OutputNormWeight, float[] OutputNormBias);
}
