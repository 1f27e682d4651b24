using System;
using System.Linq;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>Grouped-query self-attention over a padded batch, with sizes unlike the model's, as a generated layer.</summary>
[Attention(Heads = 4, KvHeads = 2, HeadDim = 16, ValueDim = 12, Mask = AttentionMask.KeyPadding)]
[AttentionProjections(QuerySize = 40, OutputSize = 24)]
public static partial class PaddedLayer;

/// <summary>Causal attention whose queries, keys and values have three different sizes, and no biases.</summary>
[Attention(Heads = 3, HeadDim = 8, Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
[AttentionProjections(QuerySize = 20, KeySize = 28, ValueSize = 12, OutputSize = 20, Bias = false)]
public static partial class CrossLayer;

/// <summary>
/// The generated multi-head attention layers against the definition: each projection in double precision, the
/// reference attention on the projections, and W_o in double precision. Random batches, lengths and valid lengths.
/// </summary>
public sealed class LayerTests
{
    private const double Tolerance = 2e-4;

    public static TheoryData<int> Seeds => new(Enumerable.Range(0, 12));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Self_attention_with_valid_lengths_matches_the_definition(int seed)
    {
        var random = new Random(TestSeed.For("padded layer " + seed));
        int inner = PaddedLayer.Heads * PaddedLayer.HeadDim, kv = PaddedLayer.KvHeads * PaddedLayer.HeadDim, values = PaddedLayer.KvHeads * PaddedLayer.ValueDim;
        int context = PaddedLayer.Heads * PaddedLayer.ValueDim;
        float[] wq = Tensors.Normal(random, 40 * inner, 0.2f), bq = Tensors.Normal(random, inner);
        float[] wk = Tensors.Normal(random, 40 * kv, 0.2f), bk = Tensors.Normal(random, kv);
        float[] wv = Tensors.Normal(random, 40 * values, 0.2f), bv = Tensors.Normal(random, values);
        float[] wo = Tensors.Normal(random, context * 24, 0.2f), bo = Tensors.Normal(random, 24);
        var layer = new PaddedLayer.Layer(wq, bq, wk, bk, wv, bv, wo, bo);

        for (int call = 0; call < 3; call++)
        {
            // Calls of different sizes on one layer: the workspace grows, shrinks back to a prefix, and is reused.
            int batch = random.Next(1, 5), length = random.Next(1, 70);
            int[] valid = Enumerable.Range(0, batch).Select(_ => random.Next(4) == 0 ? length : random.Next(0, length + 1)).ToArray();
            float[] input = Tensors.Normal(random, batch * length * 40);
            float[] output = Tensors.RunGuarded(batch * length * 24, o => layer.Forward(input, o, batch, length, valid), () => $"batch {batch}, length {length}");

            float[] q = Project(input, wq, bq, batch * length, 40, inner), k = Project(input, wk, bk, batch * length, 40, kv), v = Project(input, wv, bv, batch * length, 40, values);
            var attended = new float[batch * length * context];
            ReferenceAttention.Forward(PaddedLayer.Configuration, q, k, v, attended, batch, length, length, valid);
            float[] expected = Project(attended, wo, bo, batch * length, context, 24);
            for (int b = 0; b < batch; b++)
            {
                for (int t = valid[b]; t < length; t++)
                {
                    expected.AsSpan((b * length + t) * 24, 24).Clear(); // padding rows are zeros
                }
            }

            Tensors.AssertClose(expected, output, Tolerance, Tolerance, $"seed {seed}, call {call}: batch {batch}, length {length}, valid [{string.Join(", ", valid)}]");
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Cross_attention_with_three_input_sizes_matches_the_definition(int seed)
    {
        var random = new Random(TestSeed.For("cross layer " + seed));
        int inner = CrossLayer.Heads * CrossLayer.HeadDim;
        float[] wq = Tensors.Normal(random, 20 * inner, 0.3f), wk = Tensors.Normal(random, 28 * inner, 0.3f), wv = Tensors.Normal(random, 12 * inner, 0.3f);
        float[] wo = Tensors.Normal(random, inner * 20, 0.3f);
        var layer = new CrossLayer.Layer(wq, wk, wv, wo);
        int batch = random.Next(1, 4), queryLength = random.Next(1, 40), keyLength = random.Next(1, 60);
        float[] queries = Tensors.Normal(random, batch * queryLength * 20), keys = Tensors.Normal(random, batch * keyLength * 28), values = Tensors.Normal(random, batch * keyLength * 12);

        float[] output = Tensors.RunGuarded(batch * queryLength * 20, o => layer.Forward(queries, keys, values, o, batch, queryLength, keyLength), () => $"batch {batch}");

        float[] q = Project(queries, wq, Array.Empty<float>(), batch * queryLength, 20, inner);
        float[] k = Project(keys, wk, Array.Empty<float>(), batch * keyLength, 28, inner);
        float[] v = Project(values, wv, Array.Empty<float>(), batch * keyLength, 12, inner);
        var attended = new float[batch * queryLength * inner];
        ReferenceAttention.Forward(CrossLayer.Configuration, q, k, v, attended, batch, queryLength, keyLength);
        Tensors.AssertClose(Project(attended, wo, Array.Empty<float>(), batch * queryLength, inner, 20), output, Tolerance, Tolerance, $"seed {seed}");
    }

    [Fact]
    public void The_weights_overload_writes_the_probabilities_of_the_projections()
    {
        var random = new Random(TestSeed.For("layer weights"));
        float[] wq = Tensors.Normal(random, 40 * 64, 0.2f), wk = Tensors.Normal(random, 40 * 32, 0.2f), wv = Tensors.Normal(random, 40 * 24, 0.2f), wo = Tensors.Normal(random, 48 * 24, 0.2f);
        var layer = new PaddedLayer.Layer(wq, default, wk, default, wv, default, wo, default);
        const int batch = 2, length = 37;
        int[] valid = [37, 20];
        float[] input = Tensors.Normal(random, batch * length * 40);
        var output = new float[batch * length * 24];
        var plain = new float[output.Length];
        var weights = new float[batch * PaddedLayer.Heads * length * length];
        layer.Forward(input, output, batch, length, valid, weights, AttentionWeights.Probabilities);
        layer.Forward(input, plain, batch, length, valid);

        // The same outputs, though not always to the bit: with weights the layer runs one kernel call over the padded
        // batch, without them one call per entry, so a row may sit in a row block of another width, whose tail keys are
        // scored in another order.
        Tensors.AssertClose(plain, output, 1e-6, 1e-6, "the layer's output with and without the weights");

        float[] q = Project(input, wq, Array.Empty<float>(), batch * length, 40, 64), k = Project(input, wk, Array.Empty<float>(), batch * length, 40, 32), v = Project(input, wv, Array.Empty<float>(), batch * length, 40, 24);
        var expected = new float[weights.Length];
        ReferenceAttention.Forward(PaddedLayer.Configuration, q, k, v, new float[batch * length * 48], batch, length, length, expected, AttentionWeights.Probabilities, default, valid);
        for (int h = 0; h < PaddedLayer.Heads; h++)
        {
            expected.AsSpan(((1 * PaddedLayer.Heads + h) * length + 20) * length, 17 * length).Clear(); // entry 1's padding rows
        }

        Tensors.AssertClose(expected, weights, 1e-5, 1e-4, "the layer's probabilities");
    }

    [Fact]
    public void Self_attention_through_the_cross_attention_overload_gives_the_same_result()
    {
        var random = new Random(TestSeed.For("layer overloads"));
        var layer = new PaddedLayer.Layer(
            Tensors.Normal(random, 40 * 64), Tensors.Normal(random, 64), Tensors.Normal(random, 40 * 32), Tensors.Normal(random, 32),
            Tensors.Normal(random, 40 * 24), Tensors.Normal(random, 24), Tensors.Normal(random, 48 * 24), Tensors.Normal(random, 24));
        float[] input = Tensors.Normal(random, 2 * 30 * 40);
        int[] valid = [30, 30];
        var self = new float[2 * 30 * 24];
        var cross = new float[2 * 30 * 24];
        layer.Forward(input, self, 2, 30, valid);
        layer.Forward(input, input, input, cross, 2, 30, 30, valid);
        Tensors.AssertClose(self, cross, 1e-6, 1e-6, "self vs cross overload");
    }

    [Fact]
    public void Bad_arguments_name_the_parameter_before_anything_is_written()
    {
        int inner = PaddedLayer.Heads * PaddedLayer.HeadDim;
        ArgumentException weight = Assert.Throws<ArgumentException>(() => new PaddedLayer.Layer(
            new float[40 * inner - 1], default, new float[40 * 32], default, new float[40 * 24], default, new float[48 * 24], default));
        Assert.Equal("queryWeight", weight.ParamName);
        Assert.Contains($"[40, {inner}], {40 * inner} elements, but has {40 * inner - 1}", weight.Message, StringComparison.Ordinal);
        ArgumentException bias = Assert.Throws<ArgumentException>(() => new PaddedLayer.Layer(
            new float[40 * inner], default, new float[40 * 32], default, new float[40 * 24], new float[5], new float[48 * 24], default));
        Assert.Equal("valueBias", bias.ParamName);

        var layer = new PaddedLayer.Layer(new float[40 * inner], default, new float[40 * 32], default, new float[40 * 24], default, new float[48 * 24], default);
        var output = Enumerable.Repeat(42f, 2 * 5 * 24).ToArray();
        ArgumentException input = Assert.Throws<ArgumentException>(() => layer.Forward(new float[2 * 5 * 40 - 1], output, 2, 5, [5, 5]));
        Assert.Equal("input", input.ParamName);
        Assert.Contains("needs 400 elements, but the span has 399", input.Message, StringComparison.Ordinal);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(new float[400], new float[239], 2, 5, [5, 5])).ParamName);
        Assert.Equal("keyLengths", Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(new float[400], output, 2, 5, [5, 6])).ParamName);
        Assert.Equal("keyLengths", Assert.Throws<ArgumentException>(() => layer.Forward(new float[400], output, 2, 5, [5])).ParamName);
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => layer.Forward(new float[400], output, 2, -1, [5, 5])).ParamName);
        float[] shared = new float[1000];
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => layer.Forward(shared.AsSpan(0, 400), shared.AsSpan(300, 240), 2, 5, [5, 5])).ParamName);
        Assert.All(output, v => Assert.Equal(42f, v));
    }

    /// <summary>x · W + b in double precision, rounded to float.</summary>
    private static float[] Project(float[] x, float[] w, float[] b, int rows, int inputs, int outputs) =>
        Array.ConvertAll(Tensors.Dense(x, w, b, rows, inputs, outputs), v => (float)v);
}
