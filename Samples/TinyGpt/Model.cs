using System;
using System.Numerics.Tensors;
using AttentionGen;

namespace TinyGpt;

/// <summary>
/// The model's attention: 8 query heads sharing 2 key/value heads of 32 (grouped-query), causal. Generated at build
/// time; Forward(query, cache, ...) decodes against a KvCache, Forward(query, key, value, ...) recomputes a whole sequence.
/// </summary>
[Attention(Heads = 8, KvHeads = 2, HeadDim = 32, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
public static partial class TinyGptAttention;

/// <summary>
/// A small decoder-only transformer over bytes: token embedding, then per layer RMSNorm → grouped-query causal attention
/// → residual, RMSNorm → SwiGLU MLP → residual, and a final RMSNorm with the embedding reused as the output head (tied).
/// The weights are pseudo-random but deterministic, so every run generates the same text.
/// </summary>
public sealed class Model
{
    public const int Vocabulary = 256, Width = 256, Layers = 4, Hidden = 768;
    public const int Heads = TinyGptAttention.Heads, KvHeads = TinyGptAttention.KvHeads, HeadDim = TinyGptAttention.HeadDim;
    private const float NormEpsilon = 1e-5f;

    private readonly float[] _embedding;
    private readonly Layer[] _layers = new Layer[Layers];
    private readonly Workspace _workspace = new();

    public Model(ulong seed)
    {
        var random = new SplitMix64(seed);
        // A larger embedding scale makes the tied head's logits spread, so greedy decoding has clear winners.
        _embedding = random.Normal(Vocabulary * Width, 0.2f);
        for (int l = 0; l < Layers; l++)
        {
            _layers[l] = new Layer(random);
        }
    }

    /// <summary>One KV cache per layer, for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> tokens.</summary>
    public KvCache[] CreateCaches(int batch, int capacity, KvCachePrecision precision)
    {
        var caches = new KvCache[Layers];
        for (int l = 0; l < Layers; l++)
        {
            caches[l] = TinyGptAttention.CreateCache(batch, capacity, precision);
        }

        return caches;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> (the next ones of the sequence) through the model with the caches: appends their keys
    /// and values to each layer's cache and writes the logits of the last token to <paramref name="logits"/>.
    /// </summary>
    public void Step(ReadOnlySpan<byte> tokens, KvCache[] caches, Span<float> logits)
    {
        Span<float> x = Run(tokens, caches, halfKeysAndValues: false);
        Head(x.Slice((tokens.Length - 1) * Width, Width), logits);
    }

    /// <summary>
    /// Recomputes the whole sequence without a cache, as a check: the logits after each of <paramref name="tokens"/>,
    /// <c>[tokens, Vocabulary]</c>. With <paramref name="halfKeysAndValues"/>, keys and values are rounded to half
    /// precision first, which is what a Half cache stores.
    /// </summary>
    public float[] Recompute(ReadOnlySpan<byte> tokens, bool halfKeysAndValues)
    {
        Span<float> x = Run(tokens, caches: null, halfKeysAndValues);
        var logits = new float[tokens.Length * Vocabulary];
        for (int t = 0; t < tokens.Length; t++)
        {
            Head(x.Slice(t * Width, Width), logits.AsSpan(t * Vocabulary, Vocabulary));
        }

        return logits;
    }

    /// <summary>
    /// The residual stream after every layer, one row of Width per token: attention over the caches when there are
    /// some (the tokens continue the cached sequence), else over the tokens themselves (a whole sequence).
    /// </summary>
    private Span<float> Run(ReadOnlySpan<byte> tokens, KvCache[]? caches, bool halfKeysAndValues)
    {
        int n = tokens.Length;
        Workspace w = _workspace.For(n);
        Span<float> x = w.X.AsSpan(0, n * Width);
        for (int t = 0; t < n; t++)
        {
            _embedding.AsSpan(tokens[t] * Width, Width).CopyTo(x.Slice(t * Width));
        }

        Span<float> q = w.Q.AsSpan(0, n * Heads * HeadDim), attention = w.Attention.AsSpan(0, n * Heads * HeadDim);
        Span<float> k = w.K.AsSpan(0, n * KvHeads * HeadDim), v = w.V.AsSpan(0, n * KvHeads * HeadDim);
        for (int l = 0; l < Layers; l++)
        {
            Layer layer = _layers[l];
            layer.Project(x, n, q, k, v);
            if (caches is not null)
            {
                caches[l].Append(k, v, n);
                TinyGptAttention.Forward(q, caches[l], attention, batch: 1, queryLength: n);
            }
            else
            {
                if (halfKeysAndValues)
                {
                    RoundToHalf(k);
                    RoundToHalf(v);
                }

                TinyGptAttention.Forward(q, k, v, attention, batch: 1, queryLength: n, keyLength: n);
            }

            layer.Finish(x, n, attention, w);
        }

        return x;
    }

    /// <summary>Final RMSNorm, then the tied head: logit of token i = embedding[i] · x.</summary>
    private void Head(ReadOnlySpan<float> x, Span<float> logits)
    {
        Span<float> normed = stackalloc float[Width];
        RmsNorm(x, normed);
        for (int i = 0; i < Vocabulary; i++)
        {
            logits[i] = TensorPrimitives.Dot(_embedding.AsSpan(i * Width, Width), normed);
        }
    }

    private static void RmsNorm(ReadOnlySpan<float> x, Span<float> result)
    {
        float scale = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(x) / x.Length + NormEpsilon);
        TensorPrimitives.Multiply(x, scale, result);
    }

    private static void RoundToHalf(Span<float> values)
    {
        foreach (ref float value in values)
        {
            value = (float)(Half)value;
        }
    }

    /// <summary>
    /// The model's working memory for a run of up to <see cref="Tokens"/> tokens, grown when a longer run comes, so
    /// that decoding one token at a time allocates nothing.
    /// </summary>
    private sealed class Workspace
    {
        public int Tokens { get; private set; }
        public float[] X { get; private set; } = Array.Empty<float>();
        public float[] Q { get; private set; } = Array.Empty<float>();
        public float[] K { get; private set; } = Array.Empty<float>();
        public float[] V { get; private set; } = Array.Empty<float>();
        public float[] Attention { get; private set; } = Array.Empty<float>();
        public float[] Gate { get; } = new float[Hidden];
        public float[] Up { get; } = new float[Hidden];

        public Workspace For(int tokens)
        {
            if (tokens > Tokens)
            {
                Tokens = tokens;
                X = new float[tokens * Width];
                Q = new float[tokens * Heads * HeadDim];
                K = new float[tokens * KvHeads * HeadDim];
                V = new float[tokens * KvHeads * HeadDim];
                Attention = new float[tokens * Heads * HeadDim];
            }

            return this;
        }
    }

    /// <summary>y = W·x for a row-major W of <c>[y.Length, x.Length]</c>.</summary>
    private static void MatVec(float[] w, ReadOnlySpan<float> x, Span<float> y)
    {
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = TensorPrimitives.Dot(w.AsSpan(i * x.Length, x.Length), x);
        }
    }

    /// <summary>One transformer block's weights and the two halves of its computation around attention.</summary>
    private sealed class Layer
    {
        private readonly float[] _wq, _wk, _wv, _wo, _gate, _up, _down;

        public Layer(SplitMix64 random)
        {
            float input = 1f / MathF.Sqrt(Width), hidden = 1f / MathF.Sqrt(Hidden);
            _wq = random.Normal(Heads * HeadDim * Width, input);
            _wk = random.Normal(KvHeads * HeadDim * Width, input);
            _wv = random.Normal(KvHeads * HeadDim * Width, input);
            _wo = random.Normal(Width * Heads * HeadDim, 3f * input);
            _gate = random.Normal(Hidden * Width, input);
            _up = random.Normal(Hidden * Width, input);
            _down = random.Normal(Width * Hidden, 3f * hidden);
        }

        /// <summary>RMSNorm of each of the <paramref name="n"/> rows of x, then its queries, keys and values, token-major.</summary>
        public void Project(ReadOnlySpan<float> x, int n, Span<float> q, Span<float> k, Span<float> v)
        {
            Span<float> normed = stackalloc float[Width];
            for (int t = 0; t < n; t++)
            {
                RmsNorm(x.Slice(t * Width, Width), normed);
                MatVec(_wq, normed, q.Slice(t * Heads * HeadDim, Heads * HeadDim));
                MatVec(_wk, normed, k.Slice(t * KvHeads * HeadDim, KvHeads * HeadDim));
                MatVec(_wv, normed, v.Slice(t * KvHeads * HeadDim, KvHeads * HeadDim));
            }
        }

        /// <summary>Adds the attention's output projection to x, then the SwiGLU MLP of its RMSNorm.</summary>
        public void Finish(Span<float> x, int n, ReadOnlySpan<float> attention, Workspace w)
        {
            Span<float> projected = stackalloc float[Width];
            Span<float> normed = stackalloc float[Width];
            Span<float> gate = w.Gate, up = w.Up;
            for (int t = 0; t < n; t++)
            {
                Span<float> row = x.Slice(t * Width, Width);
                MatVec(_wo, attention.Slice(t * Heads * HeadDim, Heads * HeadDim), projected);
                TensorPrimitives.Add(row, projected, row);

                RmsNorm(row, normed);
                MatVec(_gate, normed, gate);
                MatVec(_up, normed, up);
                for (int i = 0; i < Hidden; i++)
                {
                    gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i]; // SiLU(gate) · up
                }

                MatVec(_down, gate, projected);
                TensorPrimitives.Add(row, projected, row);
            }
        }
    }
}

/// <summary>A small deterministic generator (SplitMix64) for the weights, the same on every machine and runtime.</summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Normally distributed values times <paramref name="scale"/> (Box–Muller).</summary>
    public float[] Normal(int count, float scale)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = ((Next() >> 11) + 1.0) / (1UL << 53), u2 = (Next() >> 11) / (double)(1UL << 53);
            values[i] = scale * (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }

        return values;
    }
}
