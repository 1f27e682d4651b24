using System;
using System.Collections.Generic;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// Inputs a careless or hostile caller can pass: shapes whose products overflow, overlapping spans, a cached call for
/// more queries than the cache holds. Each is rejected before anything is written, or computed correctly; none reaches
/// the kernels' unchecked index math.
/// </summary>
public sealed class HostileInputTests
{
    private const int Max = int.MaxValue;

    /// <summary>(batch, queryLength, keyLength) triples whose element counts overflow 64-bit arithmetic, or nearly.</summary>
    public static IEnumerable<object[]> HugeShapes()
    {
        foreach (KernelUnderTest kernel in DeclaredKernels.All)
        {
            yield return new object[] { kernel.Name, Max, Max, Max };
            yield return new object[] { kernel.Name, 1, Max, Max };
            yield return new object[] { kernel.Name, Max, 1, 1 };
            yield return new object[] { kernel.Name, 65536, 65536, 65536 };
        }
    }

    [Theory]
    [MemberData(nameof(HugeShapes))]
    public void Huge_shapes_are_rejected_by_every_Forward_before_anything_is_written(string name, int batch, int queryLength, int keyLength)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        float[] span = new float[1024], output = new float[1024];
        output.AsSpan().Fill(42f);
        int[] keyLengths = new int[Math.Min(batch, 4)];
        bool[] allowed = new bool[1];

        Assert.ThrowsAny<ArgumentException>(() => kernel.Forward(span, span, span, output, batch, queryLength, keyLength, keyLengths, ExplicitMask.Boolean(allowed, 1, 1, 1, 1)));
        Assert.ThrowsAny<ArgumentException>(() => ReferenceAttention.Forward(
            kernel.Configuration, span, span, span, output, batch, queryLength, keyLength,
            HasKeyPadding(kernel) ? keyLengths : default, HasExplicitMask(kernel) ? ExplicitMask.Boolean(allowed, 1, 1, 1, 1) : default));
        Assert.All(output, v => Assert.Equal(42f, v));
    }

    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void Huge_lengths_with_an_empty_batch_are_valid_and_do_nothing(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        float[] output = { 42f };
        ExplicitMask mask = HasExplicitMask(kernel) ? ExplicitMask.Boolean(default, 1, 1, 1, 0) : default;
        kernel.Forward(default, default, default, output, 0, Max, Max, default, mask);
        ReferenceAttention.Forward(kernel.Configuration, default, default, default, output, 0, Max, Max, default, mask);
        Assert.Equal(42f, output[0]);
    }

    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void Huge_query_lengths_over_a_cache_are_rejected(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        AttentionConfiguration c = kernel.Configuration;
        var cache = new KvCache(1, c.KvHeads, c.HeadDim, c.ValueDim, capacity: 4);
        float[] span = new float[1024], output = new float[1024];
        output.AsSpan().Fill(42f);
        bool[] allowed = new bool[1];

        Assert.ThrowsAny<ArgumentException>(() => kernel.ForwardCached(span, cache, output, 1, Max, MaskFor(kernel, allowed)));
        Assert.ThrowsAny<ArgumentException>(() => kernel.ForwardCached(span, cache, output, Max, 1, MaskFor(kernel, allowed)));
        Assert.ThrowsAny<ArgumentException>(() => ReferenceAttention.Forward(c, span, cache, output, 1, Max, MaskFor(kernel, allowed)));
        Assert.All(output, v => Assert.Equal(42f, v));
    }

    [Theory]
    [InlineData(Max, Max, Max, Max)]
    [InlineData(65536, 65536, 65536, 65536)]
    [InlineData(1, 1, Max, Max)]
    public void Huge_mask_shapes_are_rejected(int batch, int heads, int queryLength, int keyLength)
    {
        var additive = Assert.Throws<ArgumentException>(() => ExplicitMask.Additive(new float[1024], batch, heads, queryLength, keyLength));
        Assert.Equal("values", additive.ParamName);
        Assert.Contains("needs " + ((Int128)batch * heads * queryLength * keyLength) + " elements", additive.Message);
        var boolean = Assert.Throws<ArgumentException>(() => ExplicitMask.Boolean(new bool[1024], batch, heads, queryLength, keyLength));
        Assert.Equal("allowed", boolean.ParamName);
        Assert.Throws<ArgumentException>(() => ExplicitMask.Additive(new float[1024], queryLength, keyLength));
        Assert.Throws<ArgumentException>(() => ExplicitMask.Boolean(new bool[1024], queryLength, keyLength));
    }

    [Theory]
    [InlineData(Max, Max, 1, 1, Max)]
    [InlineData(Max, 1, Max, Max, Max)]
    [InlineData(65536, 65536, 65536, 65536, 65536)]
    public void Huge_caches_are_rejected_and_huge_appends_too(int batch, int kvHeads, int headDim, int valueDim, int capacity)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCache(batch, kvHeads, headDim, valueDim, capacity));
        Assert.Equal("capacity", exception.ParamName);
        exception = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCache(batch, kvHeads, headDim, valueDim, capacity, KvCachePrecision.Half, KvCacheOverflow.EvictOldest));
        Assert.Equal("capacity", exception.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => LlamaKernel.CreateCache(Max, Max));
        Assert.Throws<ArgumentOutOfRangeException>(() => MistralKernel.CreateCache(Max, Max, KvCachePrecision.Half, KvCacheOverflow.EvictOldest));

        var cache = new KvCache(2, 2, 3, 4, capacity: 8);
        var tooShort = Assert.Throws<ArgumentException>(() => cache.Append(new float[1024], new float[1024], Max));
        Assert.Equal("key", tooShort.ParamName);
        tooShort = Assert.Throws<ArgumentException>(() => cache.Append(1, new float[1024], new float[1024], Max));
        Assert.Equal("key", tooShort.ParamName);
        Assert.Equal(0, cache.Length);
    }

    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void A_cached_call_for_more_queries_than_an_entry_holds_throws_before_writing(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        AttentionConfiguration c = kernel.Configuration;
        var cache = new KvCache(2, c.KvHeads, c.HeadDim, c.ValueDim, capacity: 8);
        cache.Append(0, new float[3 * c.KvHeads * c.HeadDim], new float[3 * c.KvHeads * c.ValueDim], 3);
        cache.Append(1, new float[5 * c.KvHeads * c.HeadDim], new float[5 * c.KvHeads * c.ValueDim], 5);
        float[] query = new float[2 * 4 * c.Heads * c.HeadDim], output = new float[2 * 4 * c.Heads * c.ValueDim];
        output.AsSpan().Fill(42f);
        bool[] allowed = { true };

        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => kernel.ForwardCached(query, cache, output, 2, 4, MaskFor(kernel, allowed)));
        Assert.Equal("queryLength", exception.ParamName);
        Assert.Contains("queryLength is 4, but batch entry 0 of the cache holds 3 tokens", exception.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ReferenceAttention.Forward(c, query, cache, output, 2, 4, MaskFor(kernel, allowed)));
        Assert.All(output, v => Assert.Equal(42f, v));

        kernel.ForwardCached(query, cache, output, 2, 3, MaskFor(kernel, allowed)); // as many as the shortest entry holds: fine
    }

    [Theory]
    [InlineData(nameof(LlamaKernel), 1, 70, 90)]
    [InlineData(nameof(LlamaKernel), 2, 1, 33)]
    [InlineData(nameof(GemmaKernel), 2, 40, 40)]
    [InlineData(nameof(TinyKernel), 3, 9, 5)]
    public void Output_equal_to_query_computes_in_place(string name, int batch, int queryLength, int keyLength)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        AttentionConfiguration c = kernel.Configuration;
        var random = new Random(TestSeed.For(name));
        float[] query = Tensors.Normal(random, batch * queryLength * c.Heads * c.HeadDim);
        float[] key = Tensors.Normal(random, batch * keyLength * c.KvHeads * c.HeadDim);
        float[] value = Tensors.Normal(random, batch * keyLength * c.KvHeads * c.ValueDim);
        float[] expected = new float[query.Length];
        ReferenceAttention.Forward(c, query, key, value, expected, batch, queryLength, keyLength);

        float[] inPlace = (float[])query.Clone();
        kernel.Forward(inPlace, key, value, inPlace, batch, queryLength, keyLength, default, default);
        Tensors.AssertClose(expected, inPlace, 2e-5, 1e-4, name + " in place");

        // Through a cache too: the queries are the newest tokens.
        if (queryLength <= keyLength)
        {
            var cache = new KvCache(batch, c.KvHeads, c.HeadDim, c.ValueDim, keyLength);
            cache.Append(key.AsSpan(), value.AsSpan(), keyLength);
            float[] cachedExpected = new float[query.Length];
            ReferenceAttention.Forward(c, query, cache, cachedExpected, batch, queryLength);
            float[] cachedInPlace = (float[])query.Clone();
            kernel.ForwardCached(cachedInPlace, cache, cachedInPlace, batch, queryLength, default);
            Tensors.AssertClose(cachedExpected, cachedInPlace, 2e-5, 1e-4, name + " in place over a cache");
        }
    }

    /// <summary>How output is placed against the inputs, for the overlaps that must be rejected.</summary>
    public enum Overlap
    {
        QueryShifted,
        QueryShiftedBack,
        Key,
        Value,
        KeyTail,
    }

    [Theory]
    [InlineData(Overlap.QueryShifted, "output overlaps query, starting 64 elements apart")]
    [InlineData(Overlap.QueryShiftedBack, "output overlaps query, starting 64 elements apart")]
    [InlineData(Overlap.Key, "output overlaps key")]
    [InlineData(Overlap.Value, "output overlaps value")]
    [InlineData(Overlap.KeyTail, "output overlaps key")]
    public void Any_other_overlap_is_rejected_before_anything_is_written(Overlap overlap, string message)
    {
        // LlamaKernel: 8 heads of 128 over 2 key/value heads, Bshd; one buffer holds every tensor.
        const int Batch = 1, QueryLength = 3, KeyLength = 5;
        const int QuerySize = Batch * QueryLength * 8 * 128, KeySize = Batch * KeyLength * 2 * 128;
        float[] buffer = Tensors.Normal(new Random(7), 4 * QuerySize + 4 * KeySize);
        int query = QuerySize, key = 2 * QuerySize + 64, value = key + 2 * KeySize;
        int output = overlap switch
        {
            Overlap.QueryShifted => query + 64,
            Overlap.QueryShiftedBack => query - 64,
            Overlap.Key => key,
            Overlap.Value => value,
            _ => key + KeySize - 1,
        };
        float[] before = (float[])buffer.Clone();

        var exception = Assert.Throws<ArgumentException>(() => LlamaKernel.Forward(
            buffer.AsSpan(query, QuerySize), buffer.AsSpan(key, KeySize), buffer.AsSpan(value, KeySize), buffer.AsSpan(output, QuerySize), Batch, QueryLength, KeyLength));
        Assert.Equal("output", exception.ParamName);
        Assert.Contains(message, exception.Message);
        Assert.Equal(before, buffer);
    }

    [Fact]
    public void Output_equal_to_query_with_rows_of_another_size_is_rejected()
    {
        // ExplicitKernel: HeadDim 17, ValueDim 9, so output row i would overwrite part of query row i / 2.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(ExplicitKernel));
        float[] buffer = new float[2 * 3 * 3 * 17], key = new float[2 * 2 * 3 * 17], value = new float[2 * 2 * 3 * 9];
        bool[] allowed = { true };
        var exception = Assert.Throws<ArgumentException>(() =>
            kernel.Forward(buffer, key, value, buffer, 2, 3, 2, default, ExplicitMask.Boolean(allowed, 1, 1, 1, 1)));
        Assert.Equal("output", exception.ParamName);
        Assert.Contains("with rows of another size", exception.Message);
        Assert.All(buffer, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void An_additive_mask_that_overlaps_output_is_rejected()
    {
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(ExplicitKernel));
        float[] query = new float[3 * 17], key = new float[2 * 3 * 17], value = new float[2 * 3 * 9], output = new float[3 * 9];
        output.AsSpan().Fill(42f);
        var exception = Assert.Throws<ArgumentException>(() =>
            kernel.Forward(query, key, value, output, 1, 1, 2, default, ExplicitMask.Additive(output.AsSpan(0, 2), 1, 2)));
        Assert.Equal("output", exception.ParamName);
        Assert.Contains("output overlaps mask", exception.Message);
        Assert.All(output, v => Assert.Equal(42f, v));
    }

    [Theory]
    [InlineData(KvCachePrecision.Single)]
    [InlineData(KvCachePrecision.Half)]
    public void Writing_a_cache_while_another_thread_reads_it_is_named_as_the_race_it_is(KvCachePrecision precision)
    {
        // A user error, not a supported use: the reader gets either a correct answer (the write fell between calls) or
        // an InvalidOperationException that names the race, never some other exception from deep inside the cache.
        // A call that falls wholly between the writer's Clear and its next Append sees an empty cache, and gets what any
        // caller of an empty cache gets: the queryLength exception. That is the right answer for the state it read.
        AttentionConfiguration c = LlamaKernel.Configuration;
        var cache = new KvCache(1, c.KvHeads, c.HeadDim, c.ValueDim, capacity: 4096, precision, KvCacheOverflow.Throw);
        float[] token = Tensors.Normal(new Random(5), c.KvHeads * c.HeadDim);
        cache.Append(token, token, 1);
        float[] query = Tensors.Normal(new Random(6), c.Heads * c.HeadDim), output = new float[c.Heads * c.ValueDim];
        bool done = false;
        var writer = new System.Threading.Thread(() =>
        {
            for (int i = 0; i < 20000; i++)
            {
                if (cache.GetLength(0) >= 4000)
                {
                    cache.Clear();
                    cache.Append(token, token, 1);
                }

                cache.Append(token, token, 1);
            }

            System.Threading.Volatile.Write(ref done, true);
        });
        writer.Start();

        // Any exception but the one that names the race fails the test.
        while (!System.Threading.Volatile.Read(ref done))
        {
            try
            {
                LlamaKernel.Forward(query, cache, output, 1, 1);
            }
            catch (InvalidOperationException exception) when (exception.Message.Contains("appended to or cleared while Forward read it", StringComparison.Ordinal))
            {
            }
            catch (ArgumentOutOfRangeException exception) when (exception.ParamName == "queryLength" && exception.Message.Contains("of the cache holds 0 tokens", StringComparison.Ordinal))
            {
            }
        }

        writer.Join();
    }

    /// <summary>A one-key boolean mask for kernels that take one, else none.</summary>
    private static ExplicitMask MaskFor(KernelUnderTest kernel, bool[] allowed) =>
        HasExplicitMask(kernel) ? ExplicitMask.Boolean(allowed, 1, 1, 1, allowed.Length) : default;

    private static bool HasKeyPadding(KernelUnderTest kernel) => (kernel.Configuration.Mask & AttentionMask.KeyPadding) != 0;

    private static bool HasExplicitMask(KernelUnderTest kernel) => (kernel.Configuration.Mask & AttentionMask.Explicit) != 0;
}
