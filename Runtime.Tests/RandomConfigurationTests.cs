using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// Kernels for random configurations, generated and compiled in memory once per run, each checked against
/// <see cref="ReferenceAttention"/> on random problems. Configurations cover heads and GQA groups, head dims from
/// 1 to 512 (mostly not multiples of 16), every mask combination, both alignments, both layouts, scale and softcap.
/// </summary>
public sealed class RandomConfigurationTests : IClassFixture<RandomConfigurationTests.Kernels>
{
    public const int ConfigurationCount = 48;
    private readonly Kernels _kernels;

    public RandomConfigurationTests(Kernels kernels) => _kernels = kernels;

    public static IEnumerable<object[]> Indices() => Enumerable.Range(0, ConfigurationCount).Select(i => new object[] { i });

    [Theory]
    [MemberData(nameof(Indices))]
    public void Generated_kernel_matches_the_reference(int index)
    {
        KernelUnderTest kernel = _kernels.All[index];
        var random = new Random(TestSeed.For("random problems " + index));
        for (int trial = 0; trial < 6; trial++)
        {
            AttentionProblem.Random(kernel.Configuration, random).AssertMatchesReference(kernel);
        }
    }

    [Theory]
    [MemberData(nameof(Indices))]
    public void Cached_forward_matches_the_reference(int index)
    {
        KernelUnderTest kernel = _kernels.All[index];
        var random = new Random(TestSeed.For("random cached problems " + index));
        for (int trial = 0; trial < 4; trial++)
        {
            CachedProblem.Random(kernel.Configuration, random, trial % 2 == 0 ? KvCachePrecision.Single : KvCachePrecision.Half).AssertMatchesReference(kernel);
        }
    }

    [Theory]
    [MemberData(nameof(Indices))]
    public void Generated_weights_and_log_sum_exp_match_the_reference(int index)
    {
        KernelUnderTest kernel = _kernels.All[index];
        var random = new Random(TestSeed.For("random weights " + index));
        for (int trial = 0; trial < 4; trial++)
        {
            AttentionProblem problem = AttentionProblem.Random(kernel.Configuration, random, maxLength: 150, budget: 1_500_000);
            AttentionWeights kind = (AttentionWeights)(trial % 4);
            AttentionConfiguration c = problem.Configuration;
            int rows = problem.Batch * c.Heads * problem.QueryLength;
            ExplicitMask Mask() => problem.Mask is null ? default : problem.Mask.Create();

            var expectedWeights = new float[rows * problem.KeyLength];
            var expectedLse = new float[rows];
            var expectedOutput = new float[problem.OutputLength];
            ReferenceAttention.Forward(c, problem.Query, problem.Key, problem.Value, expectedOutput, problem.Batch, problem.QueryLength, problem.KeyLength,
                expectedWeights, kind, expectedLse, problem.KeyLengths, Mask());

            // Every buffer starts as NaN with a tail past its shape that must survive.
            string context = $"{problem.Describe(kernel)}, {kind}";
            float[] weights = Tensors.RunGuarded(expectedWeights.Length, w =>
            {
                float[] output = Tensors.RunGuarded(problem.OutputLength,
                    o => kernel.ForwardWeights!(problem.Query, problem.Key, problem.Value, o, problem.Batch, problem.QueryLength, problem.KeyLength, problem.KeyLengths, Mask(), w, kind),
                    () => context);
                Tensors.AssertClose(expectedOutput, output, 2e-5 * problem.ScoreSize, 1e-4, context + ": output beside the weights");
            }, () => context);
            // A float dot product errs relative to its largest terms, not its sum: scores get an absolute tolerance that
            // scales with the largest score of the problem.
            double largest = expectedWeights.Where(float.IsFinite).Select(w => Math.Abs((double)w)).DefaultIfEmpty(0).Max();
            double absolute = 2e-5 * (kind == AttentionWeights.Probabilities ? 1 : Math.Max(1, largest));
            for (int i = 0; i < weights.Length; i++)
            {
                float e = expectedWeights[i], a = weights[i];
                bool ok = float.IsNegativeInfinity(e) ? float.IsNegativeInfinity(a) : Math.Abs(a - e) <= absolute + 1e-4 * Math.Abs(e);
                Assert.True(ok, $"{context}: weight {i} (row {i / problem.KeyLength}, key {i % problem.KeyLength}) is {a}, the reference has {e}.");
            }

            float[] lse = Tensors.RunGuarded(rows, l =>
            {
                float[] output = Tensors.RunGuarded(problem.OutputLength,
                    o => kernel.ForwardLogSumExp!(problem.Query, problem.Key, problem.Value, o, problem.Batch, problem.QueryLength, problem.KeyLength, problem.KeyLengths, Mask(), l),
                    () => context);
                Tensors.AssertClose(expectedOutput, output, 2e-5 * problem.ScoreSize, 1e-4, context + ": output beside the log-sum-exp");
            }, () => context);
            // A log-sum-exp is the row's largest score plus a logarithm: it errs as the scores do.
            for (int i = 0; i < rows; i++)
            {
                bool ok = float.IsNegativeInfinity(expectedLse[i]) ? float.IsNegativeInfinity(lse[i]) : Math.Abs(lse[i] - expectedLse[i]) <= 2e-5 * problem.ScoreSize + 1e-5 * Math.Abs(expectedLse[i]);
                Assert.True(ok, $"{context}: log-sum-exp of row {i} is {lse[i]}, the reference has {expectedLse[i]}.");
            }
        }
    }

    [Fact]
    public void Decoding_through_a_cache_matches_one_prefill_for_every_causal_configuration()
    {
        // Decoding token by token (or a few tokens per call) must give, row for row, what one prefill over the whole
        // sequence gives. That holds for causal masks, where no row sees a later token.
        var random = new Random(TestSeed.For("incremental decoding"));
        int checkedKernels = 0;
        foreach (KernelUnderTest kernel in _kernels.All.Where(k => (k.Configuration.Mask & AttentionMask.Causal) != 0 && (k.Configuration.Mask & AttentionMask.Explicit) == 0))
        {
            AttentionConfiguration c = kernel.Configuration;
            int batch = random.Next(1, 3);
            int n = random.Next(1, 120);
            while ((long)batch * c.Heads * n * n * (c.HeadDim + c.ValueDim) > 6_000_000 && n > 1)
            {
                n /= 2;
            }

            AttentionProblem problem = AttentionProblem.Create(c, random, batch, n, n);
            if ((c.Mask & AttentionMask.KeyPadding) != 0)
            {
                problem = new AttentionProblem
                {
                    Configuration = c, Batch = batch, QueryLength = n, KeyLength = n,
                    Query = problem.Query, Key = problem.Key, Value = problem.Value, KeyLengths = Enumerable.Repeat(n, batch).ToArray(),
                };
            }

            float[] full = problem.Run(kernel);
            var cache = new KvCache(batch, c.KvHeads, c.HeadDim, c.ValueDim, n);
            float[] decoded = Sequences.DecodeThroughCache(kernel, problem, cache, () => random.Next(3) == 0 ? random.Next(1, 6) : 1);
            // Both sides round in float, differently (whole tiles of keys, or one token's keys at a time), so their
            // difference grows with the size of the scores as each one's error does.
            Tensors.AssertClose(full, decoded, 3e-5 * problem.ScoreSize, 2e-4, $"{kernel.Name} decoded through a cache vs one prefill, batch {batch}, {n} tokens");
            checkedKernels++;
        }

        Assert.True(checkedKernels >= 8, $"Only {checkedKernels} causal configurations were checked.");
    }

    [Fact]
    public void The_configurations_cover_what_they_claim_to()
    {
        AttentionConfiguration[] all = _kernels.All.Select(kernel => kernel.Configuration).ToArray();
        Assert.Contains(all, c => c.HeadDim % 16 != 0 && c.HeadDim > 16);
        Assert.Contains(all, c => c.HeadDim < 4);
        Assert.Contains(all, c => c.HeadDim > 256);
        Assert.Contains(all, c => c.KvHeads < c.Heads && c.KvHeads > 1);
        Assert.Contains(all, c => c.KvHeads == 1 && c.Heads > 1);
        Assert.Contains(all, c => c.ValueDim != c.HeadDim);
        Assert.Contains(all, c => c.Layout == AttentionLayout.Bhsd);
        Assert.Contains(all, c => c.Alignment == MaskAlignment.TopLeft);
        Assert.Contains(all, c => c.Alignment == MaskAlignment.BottomRight);
        Assert.Contains(all, c => c.Softcap > 0);
        for (int mask = 0; mask < 16; mask++)
        {
            Assert.Contains(all, c => (int)c.Mask == mask);
        }
    }

    /// <summary>Draws the configurations and compiles their kernels, once for the whole class.</summary>
    public sealed class Kernels
    {
        public Kernels()
        {
            var random = new Random(TestSeed.For("random configurations"));
            var declarations = new List<(string, AttentionConfiguration)>();
            for (int i = 0; i < ConfigurationCount; i++)
            {
                declarations.Add(($"Random{i}", RandomConfiguration(random, i)));
            }

            All = InMemoryKernels.Build(declarations);
        }

        public IReadOnlyList<KernelUnderTest> All { get; }

        /// <summary>
        /// A random configuration. Whatever the seed, the first 16 walk through every mask combination, layouts and
        /// alignments alternate, and indices 16 to 22 force one property each that must not be left to chance.
        /// </summary>
        private static AttentionConfiguration RandomConfiguration(Random random, int index)
        {
            AttentionMask mask = (AttentionMask)(index < 16 ? index : random.Next(16));
            int kvHeads = random.Next(1, 4);
            int group = new[] { 1, 1, 2, 3, 4 }[random.Next(5)];
            int headDim = RandomDim(random);
            int valueDim = random.Next(3) == 0 ? RandomDim(random) : headDim;
            float softcap = random.Next(4) == 0 ? (float)(random.NextDouble() * 20 + 0.5) : 0f;
            switch (index)
            {
                case 16: headDim = random.Next(1, 4); break;
                case 17: headDim = random.Next(129, 256) * 2 - 1; break;
                case 18: kvHeads = random.Next(2, 4); group = random.Next(2, 5); break;
                case 19: kvHeads = 1; group = random.Next(2, 9); break;
                case 20: valueDim = headDim + random.Next(1, 40); break;
                case 21: softcap = (float)(random.NextDouble() * 20 + 0.5); break;
                case 22: headDim = random.Next(17, 256) | 1; break;
            }

            bool positional = (mask & (AttentionMask.Causal | AttentionMask.SlidingWindow)) != 0;
            bool window = (mask & AttentionMask.SlidingWindow) != 0;
            return new AttentionConfiguration
            {
                Heads = kvHeads * group,
                KvHeads = kvHeads,
                HeadDim = headDim,
                ValueDim = valueDim,
                Mask = mask,
                Alignment = positional ? (index / 2 % 2 == 0 ? MaskAlignment.TopLeft : MaskAlignment.BottomRight) : MaskAlignment.Unspecified,
                WindowLeft = window ? random.Next(0, 80) : 0,
                WindowRight = window ? random.Next(0, 3) * random.Next(0, 40) : 0,
                Scale = random.Next(3) == 0 ? (float)(random.NextDouble() * 0.5 + 0.01) : 0f,
                Softcap = softcap,
                Layout = index % 2 == 0 ? AttentionLayout.Bshd : AttentionLayout.Bhsd,
            };
        }

        private static int RandomDim(Random random) => random.Next(10) switch
        {
            < 5 => random.Next(1, 100),
            < 7 => new[] { 16, 32, 64, 80, 96, 128 }[random.Next(6)],
            < 9 => random.Next(100, 257),
            _ => random.Next(257, 513),
        };
    }
}
