using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;
using Xunit.Sdk;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// Infinite and NaN inputs, and the extreme Scale and Softcap a declaration may have. A key that a row does not see
/// takes no part in it, whatever its value; and within the declared bounds, scores never overflow into NaN.
/// </summary>
public sealed class NonFiniteInputTests
{
    private const int Dim = 16;

    private static readonly Lazy<IReadOnlyList<KernelUnderTest>> s_kernels = new(() => InMemoryKernels.Build(new (string, AttentionConfiguration)[]
    {
        ("Plain", new() { Heads = 1, HeadDim = Dim }),
        ("CausalTopLeft", new() { Heads = 1, HeadDim = Dim, Mask = AttentionMask.Causal, Alignment = MaskAlignment.TopLeft }),
        ("Explicit", new() { Heads = 1, HeadDim = Dim, Mask = AttentionMask.Explicit }),
        ("Grouped", new() { Heads = 2, KvHeads = 1, HeadDim = Dim }),
        ("Window", new() { Heads = 2, KvHeads = 1, HeadDim = 33, Mask = AttentionMask.SlidingWindow, Alignment = MaskAlignment.TopLeft, WindowLeft = 3, WindowRight = 2, Layout = AttentionLayout.Bhsd }),
        ("LargestScale", new() { Heads = 2, HeadDim = Dim, Scale = ConfigurationRules.MaxScale(Dim) }),
        ("LargestScaleSmallestCap", new() { Heads = 2, HeadDim = Dim, Scale = ConfigurationRules.MaxScale(Dim), Softcap = ConfigurationRules.MinSoftcap }),
        ("LargestCap", new() { Heads = 2, HeadDim = Dim, Scale = ConfigurationRules.MaxScale(Dim), Softcap = ConfigurationRules.MaxSoftcap }),
    }));

    private static KernelUnderTest Kernel(string name) => s_kernels.Value.Single(kernel => kernel.Name == name);

    [Theory]
    [InlineData(20, 10)]
    [InlineData(100, 10)]
    [InlineData(100, 20)]
    public void An_infinite_value_reaches_only_the_rows_that_see_its_key(int length, int infiniteKey)
    {
        // Causal, top-left: row i sees keys 0..i, so rows before infiniteKey never see it. Key 20 lies among the keys that
        // only the upper half of a block of 32 rows sees (16 to 31), which it computes apart from the lower half.
        KernelUnderTest kernel = Kernel("CausalTopLeft");
        var random = new Random(TestSeed.For(nameof(An_infinite_value_reaches_only_the_rows_that_see_its_key)));
        float[] query = Tensors.Normal(random, length * Dim), key = Tensors.Normal(random, length * Dim), value = Tensors.Normal(random, length * Dim);
        value[infiniteKey * Dim] = float.PositiveInfinity;

        float[] expected = Reference(kernel, query, key, value, length, default);
        float[] actual = new float[length * Dim];
        kernel.Forward(query, key, value, actual, 1, length, length, default, default);
        AssertMatches(expected, actual, "tensor Forward");
        Assert.All(actual.Take(infiniteKey * Dim), v => Assert.True(float.IsFinite(v)));

        // The same through a cache: a prefill on the row blocks, then every row alone.
        var cache = new KvCache(1, 1, Dim, Dim, length);
        cache.Append(key, value, length);
        kernel.ForwardCached(query, cache, actual, 1, length, default);
        AssertMatches(expected, actual, "prefill over a cache");
    }

    [Fact]
    public void A_grouped_row_whose_scores_over_a_tile_are_all_minus_infinity_takes_none_of_its_infinite_values()
    {
        // Two query heads share one key/value head, so decoding runs them as a group. Every key of the group kernels'
        // first tile (keys 0 to GroupKeyTile - 1) is +infinity in element 0, where head 0's query is negative and head
        // 1's positive: head 0's scores there are all -infinity (weights of exactly 0), head 1's +infinity. Value 5 is
        // infinite too: head 0 must not take 0 · infinity from it, as a row on its own would not, and keeps the finite
        // attention over the last 22 keys.
        KernelUnderTest kernel = Kernel("Grouped");
        const int length = KernelTiles.GroupKeyTile + 22;
        var random = new Random(TestSeed.For(nameof(A_grouped_row_whose_scores_over_a_tile_are_all_minus_infinity_takes_none_of_its_infinite_values)));
        float[] query = Tensors.Normal(random, 2 * Dim), key = Tensors.Normal(random, length * Dim), value = Tensors.Normal(random, length * Dim);
        for (int j = 0; j < KernelTiles.GroupKeyTile; j++)
        {
            key[j * Dim] = float.PositiveInfinity;
        }

        value[5 * Dim + 3] = float.PositiveInfinity;
        query[0] = -1;
        query[Dim] = 1;
        float[] expected = new float[2 * Dim];
        ReferenceAttention.Forward(kernel.Configuration, query, key, value, expected, 1, 1, length, default, default);
        Assert.All(expected.Take(Dim), v => Assert.True(float.IsFinite(v)));

        var cache = new KvCache(1, 1, Dim, Dim, length);
        cache.Append(key, value, length);
        float[] actual = new float[2 * Dim];
        kernel.ForwardCached(query, cache, actual, 1, 1, default);
        AssertMatches(expected, actual, "decoding over a cache");
    }

    [Theory]
    [InlineData("Plain", 1)]
    [InlineData("Plain", 300)]
    [InlineData("CausalTopLeft", 300)]
    [InlineData("Grouped", 1)]
    [InlineData("Grouped", 300)]
    [InlineData("Window", 300)]
    public void A_key_a_row_sees_but_scores_minus_infinity_takes_no_part_even_with_an_infinite_value(string name, int queryLength)
    {
        // Keys 5 and 260 are +infinity in element 0, where every query is negative: every row that sees them scores them
        // -infinity, a weight of exactly 0, as if they were masked. Their values are infinite too, and must not reach a
        // row as 0 · infinity = NaN, whichever kernel runs (a row block, on a tile that masks keys or one that does not;
        // one row; a group of rows; the scalar kernel) and wherever the keys fall in its tiles, among finite scores. So
        // every row is finite, as in ReferenceAttention.
        KernelUnderTest kernel = Kernel(name);
        AttentionConfiguration configuration = kernel.Configuration;
        const int Length = 300;
        int heads = configuration.Heads, kvHeads = configuration.KvHeads, headDim = configuration.HeadDim, valueDim = configuration.ValueDim;
        bool headMajor = configuration.Layout == AttentionLayout.Bhsd;
        var random = new Random(TestSeed.For(nameof(A_key_a_row_sees_but_scores_minus_infinity_takes_no_part_even_with_an_infinite_value)) + queryLength);
        float[] query = Tensors.Normal(random, queryLength * heads * headDim);
        float[] key = Tensors.Normal(random, Length * kvHeads * headDim), value = Tensors.Normal(random, Length * kvHeads * valueDim);
        for (int row = 0; row < queryLength * heads; row++)
        {
            query[row * headDim] = -Math.Abs(query[row * headDim]) - 0.5f;
        }

        foreach (int j in new[] { 5, 260 })
        {
            for (int h = 0; h < kvHeads; h++)
            {
                int row = headMajor ? h * Length + j : j * kvHeads + h;
                key[row * headDim] = float.PositiveInfinity;
                value[row * valueDim + 1] = float.PositiveInfinity;
            }
        }

        float[] expected = new float[queryLength * heads * valueDim];
        ReferenceAttention.Forward(configuration, query, key, value, expected, 1, queryLength, Length, default, default);
        Assert.All(expected, v => Assert.True(float.IsFinite(v)));

        float[] actual = new float[expected.Length];
        kernel.Forward(query, key, value, actual, 1, queryLength, Length, default, default);
        AssertMatches(expected, actual, "tensor Forward");

        // With the attention weights too: a row block that computes itself again must write them again, whole.
        float[] expectedWeights = new float[heads * queryLength * Length], actualWeights = new float[expectedWeights.Length];
        ReferenceAttention.Forward(configuration, query, key, value, expected, 1, queryLength, Length, expectedWeights, AttentionWeights.Probabilities, default);
        kernel.ForwardWeights!(query, key, value, actual, 1, queryLength, Length, default, default, actualWeights, AttentionWeights.Probabilities);
        AssertMatches(expected, actual, "tensor Forward with weights");
        AssertMatches(expectedWeights, actualWeights, "its weights");

        if (!headMajor)
        {
            // Over a float cache: a prefill on the row blocks, or one token on the one-row or group kernels.
            var cache = new KvCache(1, kvHeads, headDim, valueDim, Length);
            cache.Append(key, value, Length);
            float[] cachedExpected = new float[expected.Length];
            ReferenceAttention.Forward(configuration, query, cache, cachedExpected, 1, queryLength);
            Assert.All(cachedExpected, v => Assert.True(float.IsFinite(v)));
            kernel.ForwardCached(query, cache, actual, 1, queryLength, default);
            AssertMatches(cachedExpected, actual, "over a cache");
        }
    }

    [Theory]
    [InlineData(true, 20)]
    [InlineData(false, 20)]
    [InlineData(true, 150)]
    [InlineData(false, 1)]
    public void A_NaN_value_behind_an_explicit_mask_takes_no_part(bool boolean, int length)
    {
        KernelUnderTest kernel = Kernel("Explicit");
        var random = new Random(TestSeed.For(nameof(A_NaN_value_behind_an_explicit_mask_takes_no_part)) + length);
        int keys = Math.Max(length, 8);
        float[] query = Tensors.Normal(random, length * Dim), key = Tensors.Normal(random, keys * Dim), value = Tensors.Normal(random, keys * Dim);
        value[3 * Dim + 5] = float.NaN;
        value[6 * Dim] = float.NegativeInfinity;
        bool[] allowed = Enumerable.Range(0, keys).Select(j => j != 3 && j != 6).ToArray();
        float[] added = allowed.Select(a => a ? 0f : float.NegativeInfinity).ToArray();
        ExplicitMask Mask() => boolean ? ExplicitMask.Boolean(allowed, 1, 1, 1, keys) : ExplicitMask.Additive(added, 1, 1, 1, keys);

        float[] expected = new float[length * Dim];
        ReferenceAttention.Forward(kernel.Configuration, query, key, value, expected, 1, length, keys, default, Mask());
        Assert.All(expected, v => Assert.True(float.IsFinite(v)));

        float[] actual = new float[length * Dim];
        kernel.Forward(query, key, value, actual, 1, length, keys, default, Mask());
        AssertMatches(expected, actual, "tensor Forward");

        var cache = new KvCache(1, 1, Dim, Dim, keys);
        cache.Append(key, value, keys);
        float[] cachedExpected = new float[length * Dim];
        ReferenceAttention.Forward(kernel.Configuration, query, cache, cachedExpected, 1, length, Mask());
        kernel.ForwardCached(query, cache, actual, 1, length, Mask());
        AssertMatches(cachedExpected, actual, "over a cache");
        Assert.All(actual, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Values_outside_a_sliding_window_take_no_part()
    {
        KernelUnderTest kernel = Kernel("Window");
        const int Length = 40, HeadDim = 33;
        var random = new Random(TestSeed.For(nameof(Values_outside_a_sliding_window_take_no_part)));
        float[] query = Tensors.Normal(random, 2 * Length * HeadDim), key = Tensors.Normal(random, Length * HeadDim), value = Tensors.Normal(random, Length * HeadDim);
        foreach (int j in new[] { 0, 7, 19, 31 })
        {
            value[j * HeadDim + j % HeadDim] = j % 2 == 0 ? float.PositiveInfinity : float.NaN;
        }

        float[] expected = Reference(kernel, query, key, value, Length, default);
        float[] actual = new float[expected.Length];
        kernel.Forward(query, key, value, actual, 1, Length, Length, default, default);
        AssertMatches(expected, actual, "sliding window");
        Assert.Contains(actual, float.IsFinite);
        Assert.Contains(actual, v => !float.IsFinite(v));
    }

    [Theory]
    [InlineData("LargestScale")]
    [InlineData("LargestScaleSmallestCap")]
    [InlineData("LargestCap")]
    public void The_most_extreme_legal_scale_and_cap_give_finite_results(string name)
    {
        // Inputs up to the bound the rules guarantee (65504 in magnitude), with the largest Scale HeadDim allows.
        KernelUnderTest kernel = Kernel(name);
        const int Length = 24;
        var random = new Random(TestSeed.For(name));
        float[] Inputs(int count) => Tensors.Normal(random, count).Select(x => Math.Clamp(x * 30000f, -ConfigurationRules.MaxInput, ConfigurationRules.MaxInput)).ToArray();
        float[] query = Inputs(Length * 2 * Dim), key = Inputs(Length * 2 * Dim), value = Tensors.Normal(random, Length * 2 * Dim);
        query.AsSpan(0, 2 * Dim).Fill(ConfigurationRules.MaxInput);
        key.AsSpan(0, 2 * Dim).Fill(ConfigurationRules.MaxInput);
        key.AsSpan(2 * Dim, 2 * Dim).Fill(-ConfigurationRules.MaxInput);

        float[] actual = new float[Length * 2 * Dim];
        kernel.Forward(query, key, value, actual, 1, Length, Length, default, default);
        Assert.All(actual, v => Assert.True(float.IsFinite(v), $"{name}: {v}"));

        // Queries of 65504 in their first element and 0 elsewhere: every score is the one product 65504 · 65504 · Scale,
        // exact in any summation order, so every row is the mean of the values, as in the reference. (Scores this large
        // turn the rounding of a general dot product, one part in 2^24, into gaps the softmax cannot forgive, so only
        // finiteness is asked of the inputs above.)
        float[] pointed = new float[Length * 2 * Dim];
        for (int row = 0; row < Length * 2; row++)
        {
            pointed[row * Dim] = ConfigurationRules.MaxInput;
        }

        float[] keys = Tensors.Normal(random, Length * 2 * Dim);
        for (int row = 0; row < Length * 2; row++)
        {
            keys[row * Dim] = ConfigurationRules.MaxInput;
        }

        float[] expected = Reference(kernel, pointed, keys, value, Length, default);
        kernel.Forward(pointed, keys, value, actual, 1, Length, Length, default, default);
        Tensors.AssertClose(expected, actual, 2e-5, 1e-4, name + " on inputs whose scores are all equal");

        // Over a Half cache too, where the query also carries the halves' rebias factor 2^112 (split with the scores
        // when Scale is above 1, so that it cannot overflow): one decoding row read in place, then a prefill.
        foreach (int queryLength in new[] { 1, Length })
        {
            var cache = new KvCache(1, 2, Dim, Dim, Length, KvCachePrecision.Half);
            cache.Append(keys, value, Length);
            float[] rows = pointed.AsSpan(0, queryLength * 2 * Dim).ToArray();
            float[] cachedExpected = new float[queryLength * 2 * Dim], cachedActual = new float[queryLength * 2 * Dim];
            ReferenceAttention.Forward(kernel.Configuration, rows, cache, cachedExpected, 1, queryLength);
            kernel.ForwardCached(rows, cache, cachedActual, 1, queryLength, default);
            Tensors.AssertClose(cachedExpected, cachedActual, 2e-5, 1e-4, $"{name} over a Half cache, {queryLength} query rows");
        }
    }

    private static float[] Reference(KernelUnderTest kernel, float[] query, float[] key, float[] value, int length, ExplicitMask mask)
    {
        float[] expected = new float[query.Length / kernel.Configuration.HeadDim * kernel.Configuration.ValueDim];
        ReferenceAttention.Forward(kernel.Configuration, query, key, value, expected, 1, length, length, default, mask);
        return expected;
    }

    /// <summary>Finite reference elements must match closely; non-finite ones must be non-finite in the kernel too.</summary>
    private static void AssertMatches(float[] expected, float[] actual, string context)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            bool ok = float.IsFinite(expected[i])
                ? Math.Abs(actual[i] - expected[i]) <= 2e-5 + 1e-4 * Math.Abs(expected[i])
                : !float.IsFinite(actual[i]);
            if (!ok)
            {
                throw new XunitException($"{context}: element {i} (row {i / Dim}) is {actual[i]}, the reference {expected[i]}.");
            }
        }
    }
}
