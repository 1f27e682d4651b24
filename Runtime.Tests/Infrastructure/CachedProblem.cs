using System;
using System.Globalization;
using System.Linq;
using Xunit;
using Xunit.Sdk;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>
/// One cached call's worth of inputs: a <see cref="KvCache"/> filled with random tokens (ragged or not, appended in
/// random chunks), queries for the newest tokens and a mask when the configuration needs one. It runs a kernel's cached
/// <c>Forward</c> and <see cref="ReferenceAttention"/>'s on the same inputs and compares them.
/// </summary>
public sealed class CachedProblem
{
    public required AttentionConfiguration Configuration { get; init; }
    public required KvCache Cache { get; init; }
    public required int QueryLength { get; init; }
    public required float[] Query { get; init; }
    public AttentionProblem.MaskData? Mask { get; init; }

    public int Batch => Cache.Batch;

    public int OutputLength => Batch * QueryLength * Configuration.Heads * Configuration.ValueDim;

    /// <summary>
    /// A random problem: batch 1–3, per-entry lengths 1–<paramref name="maxLength"/> (equal in about half the problems),
    /// 1 query row in half of them and up to 20 in the rest (never more than the shortest entry holds, since the queries
    /// are each entry's newest tokens), shrunk until the reference's work is under <paramref name="budget"/>.
    /// </summary>
    public static CachedProblem Random(
        AttentionConfiguration configuration, Random random, KvCachePrecision precision = KvCachePrecision.Single, int maxLength = 300, long budget = 3_000_000)
    {
        int batch = random.Next(1, 4);
        int queryLength = random.Next(2) == 0 ? 1 : random.Next(1, 21);
        int longest = random.Next(1, maxLength + 1);
        long Work() => (long)batch * configuration.Heads * queryLength * longest * (configuration.HeadDim + configuration.ValueDim);
        while (Work() > budget)
        {
            if (batch > 1)
            {
                batch--;
            }
            else if (queryLength > 1)
            {
                queryLength = Math.Max(1, queryLength / 2);
            }
            else
            {
                longest = Math.Max(1, longest / 2);
            }
        }

        bool ragged = random.Next(2) == 0;
        int[] lengths = Enumerable.Range(0, batch).Select(_ => ragged ? random.Next(1, longest + 1) : longest).ToArray();
        queryLength = Math.Min(queryLength, lengths.Min());
        return Create(configuration, random, precision, lengths, queryLength, capacity: lengths.Max() + random.Next(0, 9) + 1);
    }

    /// <summary>A problem whose entry <c>b</c> holds <c>lengths[b]</c> random tokens.</summary>
    public static CachedProblem Create(
        AttentionConfiguration configuration, Random random, KvCachePrecision precision, int[] lengths, int queryLength, int capacity,
        KvCacheOverflow overflow = KvCacheOverflow.Throw)
    {
        int batch = lengths.Length;
        var cache = new KvCache(batch, configuration.KvHeads, configuration.HeadDim, configuration.ValueDim, capacity, precision, overflow);
        Fill(cache, random, lengths);
        return new CachedProblem
        {
            Configuration = configuration,
            Cache = cache,
            QueryLength = queryLength,
            Query = Tensors.Normal(random, batch * queryLength * configuration.Heads * configuration.HeadDim, new[] { 0.5f, 1f, 3f }[random.Next(3)]),
            Mask = (configuration.Mask & AttentionMask.Explicit) != 0 ? AttentionProblem.MaskData.Random(random, batch, configuration.Heads, queryLength, cache.Length) : null,
        };
    }

    /// <summary>Appends <c>lengths[b]</c> random tokens to each entry, in random chunks, through whole-batch appends where lengths allow.</summary>
    public static void Fill(KvCache cache, Random random, int[] lengths)
    {
        int batch = cache.Batch;
        int common = lengths.Min();
        int done = 0;
        while (done < common)
        {
            int tokens = Math.Min(common - done, random.Next(1, 50));
            cache.Append(
                Tensors.Normal(random, batch * tokens * cache.KvHeads * cache.HeadDim),
                Tensors.Normal(random, batch * tokens * cache.KvHeads * cache.ValueDim),
                tokens);
            done += tokens;
        }

        for (int b = 0; b < batch; b++)
        {
            for (int length = common; length < lengths[b];)
            {
                int tokens = Math.Min(lengths[b] - length, random.Next(1, 50));
                cache.Append(b, Tensors.Normal(random, tokens * cache.KvHeads * cache.HeadDim), Tensors.Normal(random, tokens * cache.KvHeads * cache.ValueDim), tokens);
                length += tokens;
            }
        }
    }

    /// <summary>The reference's answer.</summary>
    public float[] RunReference()
    {
        var output = new float[OutputLength];
        ReferenceAttention.Forward(Configuration, Query, Cache, output, Batch, QueryLength, Mask is null ? default : Mask.Create());
        return output;
    }

    /// <summary>The kernel's answer, from an output buffer that starts as NaN and has a tail that must survive.</summary>
    public float[] Run(KernelUnderTest kernel) => Tensors.RunGuarded(
        OutputLength, output => kernel.ForwardCached(Query, Cache, output, Batch, QueryLength, Mask is null ? default : Mask.Create()), () => Describe(kernel));

    /// <summary>
    /// Runs the kernel and the reference and compares them, the absolute tolerance scaled by the size of the scores
    /// (<see cref="Tensors.ScoreSize"/>, from the queries and the cached keys).
    /// </summary>
    public void AssertMatchesReference(KernelUnderTest kernel, double absolute = 2e-5, double relative = 1e-4)
    {
        absolute *= Tensors.ScoreSize(Configuration.Scale, Configuration.HeadDim, Tensors.RootMeanSquare(Query), CachedKeyRootMeanSquare());
        float[] actual = Run(kernel);
        Assert.All(actual, value => Assert.True(float.IsFinite(value), $"{Describe(kernel)}: the output has {value}."));
        Tensors.AssertClose(RunReference(), actual, absolute, relative, Describe(kernel));
    }

    /// <summary>The root mean square of every key in the cache, over all entries.</summary>
    private double CachedKeyRootMeanSquare()
    {
        double sum = 0;
        long count = 0;
        for (int b = 0; b < Batch; b++)
        {
            var keys = new float[Cache.GetLength(b) * Cache.KvHeads * Cache.HeadDim];
            Cache.CopyKeys(b, keys);
            double rms = Tensors.RootMeanSquare(keys);
            sum += rms * rms * keys.Length;
            count += keys.Length;
        }

        return count == 0 ? 0 : Math.Sqrt(sum / count);
    }

    public string Describe(KernelUnderTest kernel) => string.Format(CultureInfo.InvariantCulture,
        "{0} over a {1} cache (capacity {2}, lengths [{3}]) with queryLength {4}{5}",
        kernel.Name, Cache.Precision, Cache.Capacity, string.Join(", ", Enumerable.Range(0, Batch).Select(Cache.GetLength)), QueryLength,
        Mask is { } m ? $", {(m.IsBoolean ? "boolean" : "additive")} mask [{m.Batch}, {m.Heads}, {m.QueryLength}, {m.KeyLength}]" : string.Empty);
}
