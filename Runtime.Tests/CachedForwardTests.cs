using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.CompilerServices;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// The generated <c>Forward(query, cache, output, batch, queryLength)</c> of the declared kernels: against the reference,
/// against a full prefill, with rings, long caches split across threads, half precision and bad arguments.
/// </summary>
public sealed class CachedForwardTests
{
    public static IEnumerable<object[]> Names() => DeclaredKernels.Names();

    public static IEnumerable<object[]> CausalNames() => DeclaredKernels.All
        .Where(k => (k.Configuration.Mask & AttentionMask.Causal) != 0 && (k.Configuration.Mask & AttentionMask.Explicit) == 0)
        .Select(k => new object[] { k.Name });

    [Theory]
    [MemberData(nameof(Names))]
    public void Matches_the_reference_on_random_caches(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        var random = new Random(TestSeed.For("cached " + name));
        for (int trial = 0; trial < 8; trial++)
        {
            CachedProblem.Random(kernel.Configuration, random, trial % 2 == 0 ? KvCachePrecision.Single : KvCachePrecision.Half).AssertMatchesReference(kernel);
        }
    }

    [Theory]
    [MemberData(nameof(CausalNames))]
    public void Decoding_token_by_token_matches_one_prefill(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        AttentionConfiguration c = kernel.Configuration;
        var random = new Random(TestSeed.For("decode " + name));
        int n = c.HeadDim > 256 ? 70 : 150;
        AttentionProblem problem = AttentionProblem.Create(c with { Mask = c.Mask & ~AttentionMask.KeyPadding }, random, 2, n, n);
        problem = new AttentionProblem
        {
            Configuration = c, Batch = 2, QueryLength = n, KeyLength = n, Query = problem.Query, Key = problem.Key, Value = problem.Value,
            KeyLengths = (c.Mask & AttentionMask.KeyPadding) != 0 ? new[] { n, n } : Array.Empty<int>(),
        };

        float[] full = problem.Run(kernel);
        float[] decoded = Sequences.DecodeThroughCache(kernel, problem, new KvCache(2, c.KvHeads, c.HeadDim, c.ValueDim, n), () => 1);
        Tensors.AssertClose(full, decoded, 3e-5, 2e-4, name + " token by token");
        float[] chunked = Sequences.DecodeThroughCache(kernel, problem, new KvCache(2, c.KvHeads, c.HeadDim, c.ValueDim, n), () => random.Next(1, 24));
        Tensors.AssertClose(full, chunked, 3e-5, 2e-4, name + " in chunks");
    }

    [Theory]
    [InlineData(nameof(LlamaKernel))]
    [InlineData(nameof(PackedKeysKernel))]
    [InlineData(nameof(ExplicitKernel))]
    [InlineData(nameof(EverythingKernel))]
    public void A_prefill_over_a_cache_runs_on_the_row_blocks_and_matches_the_reference(string name)
    {
        // A Single cache is read in place, a Half one through a staged copy of each head.
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        var random = new Random(TestSeed.For("cached prefill " + name));
        Assert.False(AttentionScheduler.UsesRowBlocks(queryLength: 7, rowsPerBlock: 16));
        foreach (KvCachePrecision precision in new[] { KvCachePrecision.Single, KvCachePrecision.Half })
        {
            foreach (int queryLength in new[] { 8, 37 })
            {
                Assert.True(AttentionScheduler.UsesRowBlocks(queryLength, rowsPerBlock: 16));
                CachedProblem.Create(kernel.Configuration, random, precision, new[] { 150, 37, 300 }, queryLength, capacity: 320).AssertMatchesReference(kernel);
            }
        }
    }

    [Theory]
    [InlineData(KvCachePrecision.Single)]
    [InlineData(KvCachePrecision.Half)]
    public void A_prefill_over_a_wrapped_ring_runs_on_a_staged_copy_and_matches_the_reference(KvCachePrecision precision)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(MistralKernel));
        int window = kernel.Configuration.WindowLeft;
        var problem = CachedProblem.Create(kernel.Configuration, new Random(11), precision, new[] { 200, 130 }, queryLength: 20, capacity: window + 20,
            KvCacheOverflow.EvictOldest);
        Assert.NotEqual(problem.Cache.GetLength(0), problem.Cache.GetSequenceLength(0));
        problem.AssertMatchesReference(kernel);
    }

    [Fact]
    public void A_staged_copy_is_never_reused_after_the_cache_changes()
    {
        // Chunked prefill of 10 tokens per call over a Half cache: every call stages the head again, since each append
        // changes the cache; after Clear and a refill to the same length, too. MistralKernel has one key/value head, so
        // a thread's next call asks for the very head it staged last.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(MistralKernel));
        AttentionConfiguration c = kernel.Configuration;
        var random = new Random(12);
        var cache = new KvCache(1, c.KvHeads, c.HeadDim, c.ValueDim, 60, KvCachePrecision.Half);
        for (int round = 0; round < 2; round++)
        {
            cache.Clear();
            for (int chunk = 0; chunk < 5; chunk++)
            {
                CachedProblem.Fill(cache, random, new[] { 10 });
                var problem = new CachedProblem
                {
                    Configuration = c, Cache = cache, QueryLength = 10,
                    Query = Tensors.Normal(random, 10 * c.Heads * c.HeadDim),
                };
                problem.AssertMatchesReference(kernel);
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void A_ring_as_small_as_the_window_decodes_like_a_full_prefill(int chunk)
    {
        // MistralKernel looks back WindowLeft = 37 tokens, so a ring of 37 + chunk tokens holds every key a call needs,
        // however long the sequence: it wraps around several times here.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(MistralKernel));
        AttentionConfiguration c = kernel.Configuration;
        const int n = 230;
        AttentionProblem problem = AttentionProblem.Create(c, new Random(TestSeed.For("ring")), 2, n, n);
        float[] full = problem.Run(kernel);
        KvCache ring = MistralKernel.CreateCache(2, c.WindowLeft + chunk, KvCachePrecision.Single, KvCacheOverflow.EvictOldest);
        float[] decoded = Sequences.DecodeThroughCache(kernel, problem, ring, () => chunk);
        Assert.Equal(n, ring.GetSequenceLength(0));
        Assert.Equal(c.WindowLeft + chunk, ring.Length);
        Tensors.AssertClose(full, decoded, 3e-5, 2e-4, "ring of " + (c.WindowLeft + chunk));
    }

    [Fact]
    public void A_wrapped_half_ring_matches_the_reference()
    {
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(MistralKernel));
        var random = new Random(TestSeed.For("half ring"));
        for (int appended = 40; appended < 200; appended += 37)
        {
            var problem = CachedProblem.Create(kernel.Configuration, random, KvCachePrecision.Half, new[] { appended, appended / 2 }, queryLength: 2,
                capacity: 45, KvCacheOverflow.EvictOldest);
            problem.AssertMatchesReference(kernel);
        }
    }

    [Fact]
    public void A_ring_that_lost_keys_the_queries_see_is_rejected()
    {
        var random = new Random(1);
        KvCache ring = MistralKernel.CreateCache(1, capacity: 30, KvCachePrecision.Single, KvCacheOverflow.EvictOldest);
        CachedProblem.Fill(ring, random, new[] { 30 });
        var output = new float[MistralKernel.Heads * MistralKernel.ValueDim];
        var query = new float[MistralKernel.Heads * MistralKernel.HeadDim];
        MistralKernel.Forward(query, ring, output, 1, 1); // nothing evicted yet: fine

        CachedProblem.Fill(ring, random, new[] { 1 });
        output.AsSpan().Fill(7f);
        var exception = Assert.Throws<ArgumentException>(() => MistralKernel.Forward(query, ring, output, 1, 1));
        Assert.Equal("cache", exception.ParamName);
        Assert.Contains("WindowLeft + queryLength = 38, but its capacity is 30", exception.Message);
        Assert.All(output, value => Assert.Equal(7f, value));

        KvCache llamaRing = new(1, LlamaKernel.KvHeads, LlamaKernel.HeadDim, LlamaKernel.ValueDim, 8, KvCachePrecision.Single, KvCacheOverflow.EvictOldest);
        CachedProblem.Fill(llamaRing, random, new[] { 9 });
        exception = Assert.Throws<ArgumentException>(() =>
            LlamaKernel.Forward(new float[LlamaKernel.Heads * LlamaKernel.HeadDim], llamaRing, new float[LlamaKernel.Heads * LlamaKernel.ValueDim], 1, 1));
        Assert.Contains("evicted its 1 oldest tokens", exception.Message);
        Assert.Contains("only a type declared with AttentionMask.SlidingWindow", exception.Message);
    }

    [Theory]
    [InlineData(KvCachePrecision.Single)]
    [InlineData(KvCachePrecision.Half)]
    public void A_long_cache_split_across_threads_matches_the_reference(KvCachePrecision precision)
    {
        // One sequence and two key/value heads: too few pairs for the threads, so the keys are split and the partial
        // softmax states merged.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LlamaKernel));
        const int length = 3000;
        Assert.True(AttentionScheduler.SplitCount(items: 2, workPerItem: (long)4 * length * 256, length) > 1 || AttentionRuntime.MaxDegreeOfParallelism == 1);
        var random = new Random(TestSeed.For("split " + precision));
        foreach (int queryLength in new[] { 1, 2 })
        {
            CachedProblem.Create(kernel.Configuration, random, precision, new[] { length }, queryLength, capacity: length).AssertMatchesReference(kernel);
        }

        CachedProblem.Create(kernel.Configuration, random, precision, new[] { length, 1700 }, 1, capacity: length).AssertMatchesReference(kernel);
    }

    [Theory]
    [InlineData(nameof(BertKernel), KvCachePrecision.Single)]
    [InlineData(nameof(BertKernel), KvCachePrecision.Half)]
    [InlineData(nameof(ExplicitKernel), KvCachePrecision.Single)]
    [InlineData(nameof(WideKernel), KvCachePrecision.Single)]
    [InlineData(nameof(WideKernel), KvCachePrecision.Half)]
    [InlineData(nameof(Outer.NestedKernel), KvCachePrecision.Half)]
    public void One_row_per_key_value_head_crosses_row_tiles_and_matches_the_reference(string name, KvCachePrecision precision)
    {
        // One query head per key/value head and one new token: each row reads its keys alone, RowKeyTile at a time. The
        // keys grow from token to token, so each tile's maximum score tends to pass the one before and the accumulator
        // is rescaled at the boundaries; the lengths end mid-tile.
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        Assert.Equal(kernel.Configuration.Heads, kernel.Configuration.KvHeads);
        AssertGrowingKeysMatchReference(kernel, new Random(TestSeed.For("row tiles " + name + precision)), precision);
    }

    [Theory]
    [InlineData(nameof(LlamaKernel), KvCachePrecision.Single)]
    [InlineData(nameof(LlamaKernel), KvCachePrecision.Half)]
    [InlineData(nameof(MistralKernel), KvCachePrecision.Single)]
    [InlineData(nameof(MistralKernel), KvCachePrecision.Half)]
    public void One_group_per_key_value_head_crosses_group_tiles_and_matches_the_reference(string name, KvCachePrecision precision)
    {
        // Several query heads per key/value head and one new token: the group kernels take RowKeyTile keys per call and
        // GroupKeyTile at a time, rescaling every row's accumulator at the boundaries, as above.
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        Assert.True(kernel.Configuration.Heads > kernel.Configuration.KvHeads);
        AssertGrowingKeysMatchReference(kernel, new Random(TestSeed.For("group tiles " + name + precision)), precision);
    }

    /// <summary>
    /// One new token over caches of 2 · RowKeyTile + 517 and RowKeyTile + 1 tokens whose keys grow from token to token,
    /// so that each tile's maximum score tends to pass the one before, against the reference.
    /// </summary>
    private static void AssertGrowingKeysMatchReference(KernelUnderTest kernel, Random random, KvCachePrecision precision)
    {
        AttentionConfiguration c = kernel.Configuration;
        int[] lengths = { 2 * KernelTiles.RowKeyTile + 517, KernelTiles.RowKeyTile + 1 };
        int longest = lengths[0];
        var cache = new KvCache(lengths.Length, c.KvHeads, c.HeadDim, c.ValueDim, longest, precision);
        for (int b = 0; b < lengths.Length; b++)
        {
            float[] keys = Tensors.Normal(random, lengths[b] * c.KvHeads * c.HeadDim);
            for (int i = 0; i < keys.Length; i++)
            {
                keys[i] *= 0.25f + 1.5f * (i / (c.KvHeads * c.HeadDim)) / longest;
            }

            cache.Append(b, keys, Tensors.Normal(random, lengths[b] * c.KvHeads * c.ValueDim), lengths[b]);
        }

        new CachedProblem
        {
            Configuration = c,
            Cache = cache,
            QueryLength = 1,
            Query = Tensors.Normal(random, lengths.Length * c.Heads * c.HeadDim, 2f),
            Mask = (c.Mask & AttentionMask.Explicit) != 0 ? AttentionProblem.MaskData.Random(random, lengths.Length, c.Heads, 1, longest) : null,
        }.AssertMatchesReference(kernel);
    }

    [Theory]
    [InlineData(nameof(LlamaKernel), 3)]
    [InlineData(nameof(MistralKernel), 3)]
    [InlineData(nameof(ExplicitKernel), 3)]
    [InlineData(nameof(BertKernel), 1)]
    [InlineData(nameof(ExplicitKernel), 1)]
    [InlineData(nameof(PackedKeysKernel), 1)]
    public void Half_storage_stays_within_2e_3_of_single(string name, int queryLength)
    {
        // One query row per key/value head (queryLength 1, one query head per key/value head) reads the halves in place
        // and widens them in registers; more rows share tiles widened into scratch. Both are checked.
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        AttentionConfiguration c = kernel.Configuration;
        var random = new Random(TestSeed.For("half vs single " + name));
        var single = new KvCache(2, c.KvHeads, c.HeadDim, c.ValueDim, 1200);
        var half = new KvCache(2, c.KvHeads, c.HeadDim, c.ValueDim, 1200, KvCachePrecision.Half);
        float[] keys = Tensors.Normal(random, 2 * 1100 * c.KvHeads * c.HeadDim), values = Tensors.Normal(random, 2 * 1100 * c.KvHeads * c.ValueDim);
        single.Append(keys, values, 1100);
        half.Append(keys, values, 1100);
        float[] query = Tensors.Normal(random, 2 * queryLength * c.Heads * c.HeadDim);
        ExplicitMask mask = (c.Mask & AttentionMask.Explicit) != 0 ? ExplicitMask.Additive(Tensors.Normal(random, 1100), 1, 1, 1, 1100) : default;
        var fromSingle = new float[2 * queryLength * c.Heads * c.ValueDim];
        var fromHalf = new float[fromSingle.Length];
        kernel.ForwardCached(query, single, fromSingle, 2, queryLength, mask);
        kernel.ForwardCached(query, half, fromHalf, 2, queryLength, mask);
        Tensors.AssertClose(fromSingle, fromHalf, 2e-3, 0, name + ": Half against Single");
    }

    [Fact]
    public void A_half_cache_saturates_values_beyond_its_range_and_later_steps_stay_finite()
    {
        // 70000 would round to infinity and poison every later step; stored as 65504, it is just a large value. The
        // kernel then matches the reference computed over the same cache (which reads back 65504).
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LocalWindowKernel));
        AttentionConfiguration c = kernel.Configuration;
        var problem = CachedProblem.Create(c, new Random(8), KvCachePrecision.Half, new[] { 0 }, queryLength: 1, capacity: 30);
        float[] large = Tensors.Normal(new Random(9), c.KvHeads * c.HeadDim);
        large[0] = 70000f;
        large[1] = -3e38f;
        problem.Cache.Append(large, Enumerable.Repeat(70000f, c.KvHeads * c.ValueDim).ToArray(), 1);
        CachedProblem.Fill(problem.Cache, new Random(10), new[] { 3 });
        var widened = new float[c.KvHeads * 4 * c.HeadDim];
        problem.Cache.CopyKeys(0, widened);
        Assert.Equal(65504f, widened[0]);
        Assert.Equal(-65504f, widened[1]);
        problem.AssertMatchesReference(kernel);
    }

    [Fact]
    public void Queries_for_tokens_the_cache_does_not_hold_are_rejected()
    {
        // Four query rows are the four newest tokens, but the cache holds two: the call is wrong, not empty. (The tensor
        // Forward with key padding keeps ONNX's answer for queries before the first key: zeros.)
        var cache = LlamaKernel.CreateCache(1, 4);
        CachedProblem.Fill(cache, new Random(3), new[] { 2 });
        float[] query = Tensors.Normal(new Random(4), 4 * LlamaKernel.Heads * LlamaKernel.HeadDim);
        var output = new float[4 * LlamaKernel.Heads * LlamaKernel.ValueDim];
        output.AsSpan().Fill(float.NaN);
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => LlamaKernel.Forward(query, cache, output, 1, 4));
        Assert.Contains("queryLength is 4, but batch entry 0 of the cache holds 2 tokens", exception.Message);

        cache.Clear();
        Assert.Throws<ArgumentOutOfRangeException>(() => LlamaKernel.Forward(query, cache, output, 1, 1));
        Assert.All(output, value => Assert.True(float.IsNaN(value)));
        LlamaKernel.Forward(query, cache, output, 1, 0); // no query, nothing to check against: fine
    }

    [Fact]
    public void A_cache_that_does_not_fit_the_type_is_rejected_before_anything_is_written()
    {
        int heads = LlamaKernel.Heads, headDim = LlamaKernel.HeadDim, valueDim = LlamaKernel.ValueDim;
        var query = new float[2 * heads * headDim];
        var output = new float[2 * heads * valueDim];
        output.AsSpan().Fill(3f);
        KvCache good = LlamaKernel.CreateCache(2, 8);

        void Rejects<TException>(Action call, string parameter, string message)
            where TException : ArgumentException
        {
            var exception = Assert.Throws<TException>(call);
            Assert.Equal(parameter, exception.ParamName);
            Assert.Contains(message, exception.Message);
            Assert.All(output, value => Assert.Equal(3f, value));
        }

        Rejects<ArgumentException>(() => LlamaKernel.Forward(query, new KvCache(2, 4, headDim, valueDim, 8), output, 2, 1), "cache",
            "The cache holds 4 key/value heads with headDim 128 and valueDim 128, but this attention type has KvHeads = 2, HeadDim = 128 and ValueDim = 128");
        Rejects<ArgumentException>(() => LlamaKernel.Forward(query, new KvCache(2, 2, 64, valueDim, 8), output, 2, 1), "cache", "headDim 64");
        Rejects<ArgumentException>(() => LlamaKernel.Forward(query, new KvCache(2, 2, headDim, 96, 8), output, 2, 1), "cache", "valueDim 96");
        Rejects<ArgumentNullException>(() => LlamaKernel.Forward(query, null!, output, 2, 1), "cache", "cache");
        Rejects<ArgumentException>(() => LlamaKernel.Forward(query, good, output, 1, 1), "batch", "batch is 1, but the cache holds 2 batch entries");
        Rejects<ArgumentException>(() => LlamaKernel.Forward(query.AsSpan(1), good, output, 2, 1), "query",
            "[batch, queryLength, Heads, HeadDim] = [2, 1, 8, 128] needs 2048 elements, but the span has 2047");
        Rejects<ArgumentException>(() => LlamaKernel.Forward(query, good, output.AsSpan(0, 100), 2, 1), "output", "needs 2048 elements, but the span has 100");
        Rejects<ArgumentOutOfRangeException>(() => LlamaKernel.Forward(query, good, output, 2, -1), "queryLength", "queryLength");
        Rejects<ArgumentException>(() => ExplicitKernel.Forward(new float[6 * 17], ExplicitKernel.CreateCache(2, 8), output, 2, 1, default), "mask",
            "declared with AttentionMask.Explicit");
    }
}
