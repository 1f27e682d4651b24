using System;
using System.Linq;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// ReferenceAttention's attention weights and log-sum-exp, the definition generated overloads will be tested against:
/// the four kinds agree with each other and with the output, on every declared configuration. (The ONNX cases with a
/// qk_matmul_output check them against ONNX in <see cref="OnnxConformanceTests"/>.)
/// </summary>
public sealed class AttentionWeightsTests
{
    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void The_weights_the_log_sum_exp_and_the_output_agree(string name)
    {
        AttentionConfiguration c = DeclaredKernels.Get(name).Configuration;
        var random = new Random(TestSeed.For(name + " weights"));
        AttentionProblem problem = AttentionProblem.Create(c, random, batch: 2, queryLength: random.Next(1, 24), keyLength: random.Next(1, 40));
        int rows = problem.Batch * c.Heads * problem.QueryLength, keys = problem.KeyLength;
        float[] Weights(AttentionWeights kind, float[] logSumExp, float[] output)
        {
            var weights = new float[rows * keys];
            ReferenceAttention.Forward(c, problem.Query, problem.Key, problem.Value, output, problem.Batch, problem.QueryLength, keys,
                weights, kind, logSumExp, problem.KeyLengths, problem.Mask is null ? default : problem.Mask.Create());
            return weights;
        }

        var lse = new float[rows];
        var output = new float[problem.OutputLength];
        float[] masked = Weights(AttentionWeights.MaskedScores, lse, output);
        float[] probabilities = Weights(AttentionWeights.Probabilities, Array.Empty<float>(), new float[problem.OutputLength]);
        float[] raw = Weights(AttentionWeights.Scores, Array.Empty<float>(), new float[problem.OutputLength]);
        float[] capped = Weights(AttentionWeights.SoftcappedScores, Array.Empty<float>(), new float[problem.OutputLength]);
        float[] plain = problem.RunReference();
        Assert.Equal(plain, output);

        for (int row = 0; row < rows; row++)
        {
            bool sees = masked.Skip(row * keys).Take(keys).Any(s => !float.IsNegativeInfinity(s));
            Assert.Equal(sees, !float.IsNegativeInfinity(lse[row]));
            double sum = 0;
            for (int j = 0; j < keys; j++)
            {
                int at = row * keys + j;
                // The soft cap of the raw score, within float rounding of the double computation.
                float expectedCap = c.Softcap > 0 ? (float)(c.Softcap * Math.Tanh(raw[at] / (double)c.Softcap)) : raw[at];
                Assert.True(Math.Abs(capped[at] - expectedCap) <= 1e-5 * Math.Max(1, Math.Abs(expectedCap)), $"{name}: soft cap at row {row}, key {j}");
                float expected = sees && !float.IsNegativeInfinity(masked[at]) ? (float)Math.Exp(masked[at] - (double)lse[row]) : 0f;
                Assert.True(Math.Abs(probabilities[at] - expected) <= 2e-6, $"{name}: p at row {row}, key {j} is {probabilities[at]}, exp(s - lse) {expected}");
                sum += probabilities[at];
            }

            Assert.True(sees ? Math.Abs(sum - 1) < 1e-5 : sum == 0, $"{name}: row {row}'s probabilities sum to {sum}");
        }
    }

    [Fact]
    public void Short_or_overlapping_weight_outputs_are_rejected_before_anything_is_written()
    {
        AttentionConfiguration c = LlamaKernel.Configuration;
        float[] q = new float[2 * 8 * 128], k = new float[2 * 2 * 128], v = new float[2 * 2 * 128], o = new float[2 * 8 * 128];
        o.AsSpan().Fill(42f);
        var exception = Assert.Throws<ArgumentException>(() => ReferenceAttention.Forward(c, q, k, v, o, 1, 2, 2, new float[8 * 2 * 2 - 1], AttentionWeights.Probabilities, default));
        Assert.Equal("weights", exception.ParamName);
        Assert.Contains("[batch, Heads, queryLength, keyLength] = [1, 8, 2, 2] needs 32 elements, but the span has 31", exception.Message);
        exception = Assert.Throws<ArgumentException>(() => ReferenceAttention.Forward(c, q, k, v, o, 1, 2, 2, default, AttentionWeights.Probabilities, new float[15]));
        Assert.Equal("logSumExp", exception.ParamName);
        exception = Assert.Throws<ArgumentException>(() => ReferenceAttention.Forward(c, q, k, v, o, 1, 2, 2, o.AsSpan(0, 32), AttentionWeights.Probabilities, default));
        Assert.Equal("weights", exception.ParamName);
        exception = Assert.Throws<ArgumentException>(() => ReferenceAttention.Forward(c, q, k, v, o, 1, 2, 2, default, AttentionWeights.Probabilities, k.AsSpan(0, 16)));
        Assert.Equal("logSumExp", exception.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => ReferenceAttention.Forward(c, q, k, v, o, 1, 2, 2, new float[32], (AttentionWeights)4, default));
        Assert.All(o, x => Assert.Equal(42f, x));
    }
}
