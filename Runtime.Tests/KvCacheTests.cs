using System;
using System.Linq;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>The <see cref="KvCache"/> type on its own: shapes, lengths, overflow, rings and half precision.</summary>
public sealed class KvCacheTests
{
    private const int KvHeads = 2, HeadDim = 3, ValueDim = 4;

    [Fact]
    public void A_new_cache_is_empty_and_reports_its_shape()
    {
        var cache = new KvCache(batch: 3, KvHeads, HeadDim, ValueDim, capacity: 10, KvCachePrecision.Half);
        Assert.Equal((3, KvHeads, HeadDim, ValueDim, 10), (cache.Batch, cache.KvHeads, cache.HeadDim, cache.ValueDim, cache.Capacity));
        Assert.Equal(KvCachePrecision.Half, cache.Precision);
        Assert.Equal(KvCacheOverflow.Throw, cache.Overflow);
        Assert.Equal(0, cache.Length);
        Assert.All(Enumerable.Range(0, 3), b => Assert.Equal(0, cache.GetLength(b)));
    }

    [Theory]
    [InlineData(0, 1, 1, 1, 1, "batch")]
    [InlineData(1, 0, 1, 1, 1, "kvHeads")]
    [InlineData(1, 1, 0, 1, 1, "headDim")]
    [InlineData(1, 1, 1, 0, 1, "valueDim")]
    [InlineData(1, 1, 1, 1, 0, "capacity")]
    [InlineData(1000, 64, 128, 128, 1_000_000, "capacity")]
    public void Bad_sizes_are_rejected(int batch, int kvHeads, int headDim, int valueDim, int capacity, string parameter)
    {
        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => new KvCache(batch, kvHeads, headDim, valueDim, capacity));
        Assert.Equal(parameter, exception.ParamName);
    }

    [Fact]
    public void Append_stores_tokens_in_order_for_every_entry()
    {
        var cache = new KvCache(batch: 2, KvHeads, HeadDim, ValueDim, capacity: 8);
        float[] keys1 = Sequence(2 * 3 * KvHeads * HeadDim, 0), values1 = Sequence(2 * 3 * KvHeads * ValueDim, 1000);
        float[] keys2 = Sequence(2 * 2 * KvHeads * HeadDim, 500), values2 = Sequence(2 * 2 * KvHeads * ValueDim, 1500);
        cache.Append(keys1, values1, tokens: 3);
        cache.Append(keys2, values2, tokens: 2);
        Assert.Equal(5, cache.Length);

        for (int b = 0; b < 2; b++)
        {
            Assert.Equal(Present(b, HeadDim, (keys1, 3), (keys2, 2)), CopyKeys(cache, b));
            Assert.Equal(Present(b, ValueDim, (values1, 3), (values2, 2)), CopyValues(cache, b));
        }
    }

    [Fact]
    public void Ragged_appends_give_each_entry_its_own_length()
    {
        var cache = new KvCache(batch: 3, KvHeads, HeadDim, ValueDim, capacity: 8);
        cache.Append(Sequence(3 * 2 * KvHeads * HeadDim, 0), Sequence(3 * 2 * KvHeads * ValueDim, 0), tokens: 2);
        float[] key = Sequence(4 * KvHeads * HeadDim, 100), value = Sequence(4 * KvHeads * ValueDim, 200);
        cache.Append(batchIndex: 1, key, value, tokens: 4);
        Assert.Equal(new[] { 2, 6, 2 }, Enumerable.Range(0, 3).Select(cache.GetLength));
        Assert.Equal(6, cache.Length);
        float[] keys = CopyKeys(cache, 1);
        for (int h = 0; h < KvHeads; h++)
        {
            for (int t = 0; t < 4; t++)
            {
                Assert.Equal(key.AsSpan((t * KvHeads + h) * HeadDim, HeadDim).ToArray(), keys.AsSpan((h * 6 + 2 + t) * HeadDim, HeadDim).ToArray());
            }
        }
    }

    [Fact]
    public void Appending_past_capacity_throws_and_leaves_the_cache_as_it_was()
    {
        var cache = new KvCache(batch: 2, KvHeads, HeadDim, ValueDim, capacity: 5);
        cache.Append(Sequence(2 * 4 * KvHeads * HeadDim, 0), Sequence(2 * 4 * KvHeads * ValueDim, 0), tokens: 4);
        float[] before = CopyKeys(cache, 0);

        var exception = Assert.Throws<InvalidOperationException>(() =>
            cache.Append(Sequence(2 * 2 * KvHeads * HeadDim, 99), Sequence(2 * 2 * KvHeads * ValueDim, 99), tokens: 2));
        Assert.Contains("capacity is 5 tokens", exception.Message);
        Assert.Contains("appending 2 more would need 6", exception.Message);
        Assert.Equal(4, cache.Length);
        Assert.Equal(before, CopyKeys(cache, 0));

        // One entry full is enough to refuse a whole-batch append; the other entries are not touched either.
        cache.Append(batchIndex: 1, Sequence(KvHeads * HeadDim, 7), Sequence(KvHeads * ValueDim, 7), tokens: 1);
        Assert.Throws<InvalidOperationException>(() => cache.Append(Sequence(2 * KvHeads * HeadDim, 9), Sequence(2 * KvHeads * ValueDim, 9), tokens: 1));
        Assert.Equal(new[] { 4, 5 }, new[] { cache.GetLength(0), cache.GetLength(1) });
    }

    [Fact]
    public void Short_spans_name_the_parameter_and_both_sizes()
    {
        var cache = new KvCache(batch: 2, KvHeads, HeadDim, ValueDim, capacity: 5);
        var exception = Assert.Throws<ArgumentException>(() => cache.Append(new float[2 * 3 * KvHeads * HeadDim - 1], new float[2 * 3 * KvHeads * ValueDim], tokens: 3));
        Assert.Equal("key", exception.ParamName);
        Assert.Contains("[batch, tokens, kvHeads, headDim] = [2, 3, 2, 3] needs 36 elements, but the span has 35", exception.Message);

        exception = Assert.Throws<ArgumentException>(() => cache.Append(0, new float[KvHeads * HeadDim], new float[KvHeads * ValueDim - 1], tokens: 1));
        Assert.Equal("value", exception.ParamName);
        Assert.Contains("[tokens, kvHeads, valueDim] = [1, 2, 4] needs 8 elements, but the span has 7", exception.Message);

        Assert.Equal("tokens", Assert.Throws<ArgumentOutOfRangeException>(() => cache.Append(default, default, tokens: -1)).ParamName);
        Assert.Equal("batchIndex", Assert.Throws<ArgumentOutOfRangeException>(() => cache.Append(2, default, default, tokens: 0)).ParamName);
        Assert.Equal(0, cache.Length);
    }

    [Fact]
    public void Clear_empties_every_entry_or_one()
    {
        var cache = new KvCache(batch: 2, KvHeads, HeadDim, ValueDim, capacity: 5);
        cache.Append(Sequence(2 * 3 * KvHeads * HeadDim, 0), Sequence(2 * 3 * KvHeads * ValueDim, 0), tokens: 3);
        cache.Clear(1);
        Assert.Equal(new[] { 3, 0 }, new[] { cache.GetLength(0), cache.GetLength(1) });
        cache.Clear();
        Assert.Equal(0, cache.Length);
        Assert.Equal(0, cache.GetSequenceLength(0));
        cache.Append(Sequence(2 * 5 * KvHeads * HeadDim, 0), Sequence(2 * 5 * KvHeads * ValueDim, 0), tokens: 5);
        Assert.Equal(5, cache.Length);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(11)]
    public void A_ring_keeps_the_last_capacity_tokens(int chunk)
    {
        const int capacity = 6, total = 23;
        var ring = new KvCache(batch: 1, KvHeads, HeadDim, ValueDim, capacity, KvCachePrecision.Single, KvCacheOverflow.EvictOldest);
        float[] keys = Sequence(total * KvHeads * HeadDim, 0), values = Sequence(total * KvHeads * ValueDim, 5000);
        for (int start = 0; start < total; start += chunk)
        {
            int count = Math.Min(chunk, total - start);
            ring.Append(keys.AsSpan(start * KvHeads * HeadDim), values.AsSpan(start * KvHeads * ValueDim), count);
            int appended = start + count, held = Math.Min(appended, capacity);
            Assert.Equal(held, ring.Length);
            Assert.Equal(appended, ring.GetSequenceLength(0));
            float[] expected = new float[KvHeads * held * HeadDim];
            for (int h = 0; h < KvHeads; h++)
            {
                for (int t = 0; t < held; t++)
                {
                    keys.AsSpan(((appended - held + t) * KvHeads + h) * HeadDim, HeadDim).CopyTo(expected.AsSpan((h * held + t) * HeadDim));
                }
            }

            Assert.Equal(expected, CopyKeys(ring, 0));
        }
    }

    [Fact]
    public void Half_storage_rounds_to_the_nearest_half_and_reads_back_exactly()
    {
        var random = new Random(TestSeed.For("half storage"));
        float[] keys = Tensors.Normal(random, 4 * KvHeads * HeadDim, 3f);
        keys[0] = 65504f;            // the largest half
        keys[1] = 1e-6f;             // a subnormal half
        keys[2] = -0f;
        keys[3] = 65519f;            // rounds to infinity as a plain conversion; saturated to 65504
        keys[4] = -1e6f;             // beyond the half range: saturated to -65504
        keys[5] = 5.96e-8f;          // the smallest subnormal half
        keys[6] = float.MaxValue;    // saturated to 65504
        var cache = new KvCache(batch: 1, KvHeads, HeadDim, ValueDim, capacity: 4, KvCachePrecision.Half);
        cache.Append(keys, new float[4 * KvHeads * ValueDim], tokens: 4);

        float[] expected = new float[keys.Length];
        for (int h = 0; h < KvHeads; h++)
        {
            for (int t = 0; t < 4; t++)
            {
                for (int d = 0; d < HeadDim; d++)
                {
                    expected[(h * 4 + t) * HeadDim + d] = (float)(Half)Math.Clamp(keys[(t * KvHeads + h) * HeadDim + d], -65504f, 65504f);
                }
            }
        }

        float[] actual = CopyKeys(cache, 0);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
        Assert.All(actual, v => Assert.True(float.IsFinite(v)));
        Assert.Contains(65504f, actual);
        Assert.Contains(-65504f, actual);
    }

    [Theory]
    [InlineData(float.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    [InlineData(float.NaN, "NaN")]
    public void A_half_cache_rejects_infinities_and_NaN_before_appending_anything(float bad, string shown)
    {
        var cache = new KvCache(batch: 2, KvHeads, HeadDim, ValueDim, capacity: 4, KvCachePrecision.Half);
        cache.Append(Sequence(2 * KvHeads * HeadDim, 0), Sequence(2 * KvHeads * ValueDim, 0), tokens: 1);
        float[] keys = Sequence(2 * 2 * KvHeads * HeadDim, 0), values = Sequence(2 * 2 * KvHeads * ValueDim, 0);
        float[] before = CopyKeys(cache, 1);

        // In the last batch entry, so that a check made while writing would already have appended the first.
        values[^1] = bad;
        var exception = Assert.Throws<ArgumentException>(() => cache.Append(keys, values, tokens: 2));
        Assert.Equal("value", exception.ParamName);
        Assert.Contains($"value[{values.Length - 1}] is {shown}, but a Half cache holds finite values only", exception.Message);
        Assert.Equal(new[] { 1, 1 }, Enumerable.Range(0, 2).Select(cache.GetLength));
        Assert.Equal(before, CopyKeys(cache, 1));

        values[^1] = 0;
        keys[5] = bad;
        exception = Assert.Throws<ArgumentException>(() => cache.Append(1, keys, values, tokens: 1));
        Assert.Equal("key", exception.ParamName);
        Assert.Contains("key[5]", exception.Message);
        Assert.Equal(1, cache.GetLength(1));

        // A Single cache stores what it is given, as a float tensor would.
        var single = new KvCache(batch: 1, KvHeads, HeadDim, ValueDim, capacity: 4);
        single.Append(0, keys, values, tokens: 1);
        Assert.Equal(1, single.GetLength(0));
    }

    [Fact]
    public void CopyKeys_checks_the_destination()
    {
        var cache = new KvCache(batch: 1, KvHeads, HeadDim, ValueDim, capacity: 4);
        cache.Append(new float[2 * KvHeads * HeadDim], new float[2 * KvHeads * ValueDim], tokens: 2);
        var exception = Assert.Throws<ArgumentException>(() => cache.CopyKeys(0, new float[KvHeads * 2 * HeadDim - 1]));
        Assert.Equal("destination", exception.ParamName);
        Assert.Contains("needs 12 elements, but the span has 11", exception.Message);
    }

    private static float[] Sequence(int length, int start) => Enumerable.Range(start, length).Select(i => (float)i).ToArray();

    private static float[] CopyKeys(KvCache cache, int b)
    {
        var keys = new float[cache.KvHeads * cache.GetLength(b) * cache.HeadDim];
        cache.CopyKeys(b, keys);
        return keys;
    }

    private static float[] CopyValues(KvCache cache, int b)
    {
        var values = new float[cache.KvHeads * cache.GetLength(b) * cache.ValueDim];
        cache.CopyValues(b, values);
        return values;
    }

    /// <summary>What ONNX calls present: entry <paramref name="b"/>'s appended chunks, [kvHeads, tokens, dim].</summary>
    private static float[] Present(int b, int dim, params (float[] Tensor, int Tokens)[] chunks)
    {
        int total = chunks.Sum(c => c.Tokens);
        var present = new float[KvHeads * total * dim];
        int offset = 0;
        foreach ((float[] tensor, int tokens) in chunks)
        {
            for (int t = 0; t < tokens; t++)
            {
                for (int h = 0; h < KvHeads; h++)
                {
                    tensor.AsSpan(((b * tokens + t) * KvHeads + h) * dim, dim).CopyTo(present.AsSpan((h * total + offset + t) * dim));
                }
            }

            offset += tokens;
        }

        return present;
    }
}
