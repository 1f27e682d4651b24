using System;
using System.Linq;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// <see cref="Linear"/> against a double-precision x · W + b: random sizes around every panel and register-block edge,
/// all rows or some, single and concatenated, on one thread and on several. The numeric runs repeat under each
/// instruction-set setting of .ci/run, so every packing width and block shape is covered.
/// </summary>
public sealed class LinearTests
{
    public static TheoryData<int> Seeds => new(Enumerable.Range(0, 40));

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_sizes_match_the_double_reference(int seed)
    {
        var random = new Random(TestSeed.For("linear " + seed));
        int inputs = random.Next(1, 3) == 1 ? random.Next(1, 20) : random.Next(20, 200);
        int outputs = random.Next(1, 4) switch { 1 => random.Next(1, 17), 2 => 16 * random.Next(1, 8) + random.Next(-1, 2), _ => random.Next(1, 200) };
        outputs = Math.Max(outputs, 1);
        int rows = random.Next(0, 3) == 0 ? random.Next(1, 14) : random.Next(1, 150);
        bool withBias = random.Next(2) == 0;
        float[] weight = Tensors.Normal(random, inputs * outputs);
        float[] bias = withBias ? Tensors.Normal(random, outputs) : Array.Empty<float>();
        float[] input = Tensors.Normal(random, rows * inputs);
        int[] only = random.Next(3) == 0 ? Enumerable.Range(0, rows).Where(_ => random.Next(3) != 0).ToArray() : Array.Empty<int>();
        var layer = new Linear(weight, inputs, outputs, bias);

        float[] output = Enumerable.Repeat(float.NaN, rows * outputs).ToArray();
        layer.Apply(input, output, rows, only);

        double[] expected = Tensors.Dense(input, weight, bias, rows, inputs, outputs);
        string context = $"inputs {inputs}, outputs {outputs}, rows {rows}, bias {withBias}, only {only.Length}";
        for (int r = 0; r < rows; r++)
        {
            bool computed = only.Length == 0 || only.Contains(r);
            for (int j = 0; j < outputs; j++)
            {
                float actual = output[r * outputs + j];
                if (!computed)
                {
                    Assert.True(float.IsNaN(actual), $"{context}: row {r} was not asked for but was written");
                    continue;
                }

                double e = expected[r * outputs + j];
                Assert.True(Math.Abs(actual - e) <= 1e-5 * (Math.Sqrt(inputs) + Math.Abs(e)), $"{context}: [{r}, {j}] is {actual}, expected {e}");
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void A_concatenation_writes_each_part_as_its_own_block_on_any_thread_count(int threads)
    {
        int saved = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = threads;
            var random = new Random(TestSeed.For("linear concatenation"));
            const int inputs = 96, rows = 301;
            int[] sizes = [64, 40, 33];
            float[][] weights = sizes.Select(o => Tensors.Normal(random, inputs * o)).ToArray();
            float[][] biases = sizes.Select(o => Tensors.Normal(random, o)).ToArray();
            float[] input = Tensors.Normal(random, rows * inputs);
            Linear[] parts = sizes.Select((o, i) => new Linear(weights[i], inputs, o, biases[i])).ToArray();
            Linear fused = Linear.Concatenate(parts);
            Assert.Equal(3, fused.Parts);
            Assert.Equal(sizes.Sum(), fused.Outputs);

            var output = new float[rows * fused.Outputs];
            fused.Apply(input, output, rows);

            int offset = 0;
            for (int i = 0; i < parts.Length; i++)
            {
                var alone = new float[rows * sizes[i]];
                parts[i].Apply(input, alone, rows);
                Assert.Equal(alone, output.AsSpan(offset, alone.Length).ToArray());
                double[] expected = Tensors.Dense(input, weights[i], biases[i], rows, inputs, sizes[i]);
                Assert.True(Tensors.MaxError(expected.Select(e => (float)e).ToArray(), alone) < 1e-4, $"part {i}");
                offset += alone.Length;
            }
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = saved;
        }
    }

    [Theory]
    [InlineData(1700, 40, 260)]
    [InlineData(384, 33, 500)]
    public void Rows_beyond_one_work_item_match_the_double_reference(int inputs, int outputs, int rows)
    {
        // Work items take 48 rows (Gemm.ChunkRows): these span several, with a partial last one, for large and common inputs.
        var random = new Random(TestSeed.For($"linear chunks {inputs} {outputs} {rows}"));
        float[] weight = Tensors.Normal(random, inputs * outputs), bias = Tensors.Normal(random, outputs), input = Tensors.Normal(random, rows * inputs);
        int[] only = Enumerable.Range(0, rows).Where(r => r % 7 != 3).ToArray();
        var output = new float[rows * outputs];
        new Linear(weight, inputs, outputs, bias).Apply(input, output, rows, only);
        double[] expected = Tensors.Dense(input, weight, bias, rows, inputs, outputs);
        foreach (int r in only)
        {
            for (int j = 0; j < outputs; j++)
            {
                double e = expected[r * outputs + j];
                Assert.True(Math.Abs(output[r * outputs + j] - e) <= 1e-5 * (Math.Sqrt(inputs) + Math.Abs(e)), $"[{r}, {j}] is {output[r * outputs + j]}, expected {e}");
            }
        }
    }

    [Fact]
    public void Bad_arguments_name_the_parameter_and_the_sizes_before_anything_is_written()
    {
        var layer = new Linear(new float[6], 2, 3, new float[3]);
        var output = new float[9];
        AssertMessage(() => layer.Apply(new float[5], output, 3), "input", "[3, 2], 6 elements, but has 5");
        AssertMessage(() => layer.Apply(new float[6], new float[8], 3), "output", "[3, 3], 9 elements, but has 8");
        AssertMessage(() => layer.Apply(new float[6], output, 3, [0, 3]), "onlyRows", "onlyRows[1] = 3");
        AssertMessage(() => layer.Apply(new float[6], output, 3, [1, 1]), "onlyRows", "ascend strictly");
        float[] shared = new float[20];
        AssertMessage(() => layer.Apply(shared.AsSpan(0, 6), shared.AsSpan(3, 9), 3), "output", "overlaps input");
        Assert.All(output, v => Assert.Equal(0f, v));

        AssertMessage(() => new Linear(new float[5], 2, 3), "weight", "[inputs, outputs] = [2, 3], 6 elements, but has 5");
        AssertMessage(() => new Linear(new float[6], 2, 3, new float[2]), "bias", "outputs = 3 elements, but has 2");
        Assert.Throws<ArgumentOutOfRangeException>("inputs", () => new Linear(default, 0, 3));
        AssertMessage(() => Linear.Concatenate(layer, new Linear(new float[3], 1, 3)), "parts", "parts[1] has 1 inputs but parts[0] has 2");
        AssertMessage(() => Linear.Concatenate(Linear.Concatenate(layer, layer)), "parts", "is itself a concatenation");
    }

    [Fact]
    public void Zero_rows_do_nothing()
    {
        var layer = new Linear(new float[6], 2, 3);
        layer.Apply(default, default, 0);
    }

    private static void AssertMessage(Action call, string parameter, string fragment)
    {
        ArgumentException exception = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(parameter, exception.ParamName);
        Assert.Contains(fragment, exception.Message, StringComparison.Ordinal);
    }
}
