using System;
using System.Globalization;
using Xunit.Sdk;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>
/// One call's worth of inputs for a configuration: shape, tensors, key lengths and mask. It can run a kernel and
/// <see cref="ReferenceAttention"/> on the same inputs and compare them.
/// </summary>
public sealed class AttentionProblem
{
    public required AttentionConfiguration Configuration { get; init; }
    public required int Batch { get; init; }
    public required int QueryLength { get; init; }
    public required int KeyLength { get; init; }
    public required float[] Query { get; init; }
    public required float[] Key { get; init; }
    public required float[] Value { get; init; }
    public int[] KeyLengths { get; init; } = Array.Empty<int>();
    public MaskData? Mask { get; init; }

    public int OutputLength => Batch * QueryLength * Configuration.Heads * Configuration.ValueDim;

    /// <summary>The mask tensor of an explicitly masked problem, in the shape <see cref="ExplicitMask"/> takes.</summary>
    public sealed record MaskData(bool IsBoolean, float[] Additive, bool[] Allowed, int Batch, int Heads, int QueryLength, int KeyLength)
    {
        /// <summary>
        /// A random mask that broadcasts to [batch, heads, queryLength, keyLength]: each axis full or 1, the key axis
        /// sometimes short, boolean (a fifth masked) or additive (values in [-2, 2), a tenth -infinity).
        /// </summary>
        public static MaskData Random(Random random, int batch, int heads, int queryLength, int keyLength)
        {
            int maskBatch = random.Next(2) == 0 ? 1 : batch;
            int maskHeads = random.Next(2) == 0 ? 1 : heads;
            int maskQueries = random.Next(3) == 0 ? 1 : queryLength;
            int maskKeys = random.Next(4) == 0 ? random.Next(0, keyLength + 1) : keyLength;
            int count = maskBatch * maskHeads * maskQueries * maskKeys;
            bool isBoolean = random.Next(2) == 0;
            var additive = new float[isBoolean ? 0 : count];
            var allowed = new bool[isBoolean ? count : 0];
            for (int i = 0; i < count; i++)
            {
                if (isBoolean)
                {
                    allowed[i] = random.Next(5) != 0;
                }
                else
                {
                    additive[i] = random.Next(10) == 0 ? float.NegativeInfinity : (float)(random.NextDouble() * 4 - 2);
                }
            }

            return new MaskData(isBoolean, additive, allowed, maskBatch, maskHeads, maskQueries, maskKeys);
        }

        public ExplicitMask Create() => IsBoolean
            ? ExplicitMask.Boolean(Allowed, Batch, Heads, QueryLength, KeyLength)
            : ExplicitMask.Additive(Additive, Batch, Heads, QueryLength, KeyLength);
    }

    /// <summary>
    /// A random problem for <paramref name="configuration"/>: batch 1–4, lengths 1–<paramref name="maxLength"/>, shrunk
    /// until the reference's work stays under <paramref name="budget"/> multiply-adds.
    /// </summary>
    public static AttentionProblem Random(AttentionConfiguration configuration, Random random, int maxLength = 300, long budget = 4_000_000)
    {
        int batch = random.Next(1, 5);
        int queryLength = random.Next(1, maxLength + 1);
        int keyLength = random.Next(1, maxLength + 1);
        if ((configuration.Mask & (AttentionMask.Causal | AttentionMask.SlidingWindow)) != 0 && random.Next(3) == 0)
        {
            keyLength = queryLength; // self-attention, where both alignments agree
        }

        long Work() => (long)batch * configuration.Heads * queryLength * keyLength * (configuration.HeadDim + configuration.ValueDim);
        while (Work() > budget)
        {
            if (batch > 1)
            {
                batch--;
            }
            else if (queryLength >= keyLength)
            {
                queryLength = Math.Max(1, queryLength / 2);
            }
            else
            {
                keyLength = Math.Max(1, keyLength / 2);
            }
        }

        return Create(configuration, random, batch, queryLength, keyLength);
    }

    /// <summary>A problem of the given shape with random data, key lengths and mask as the configuration needs.</summary>
    public static AttentionProblem Create(AttentionConfiguration configuration, Random random, int batch, int queryLength, int keyLength)
    {
        float magnitude = new[] { 0.5f, 1f, 3f }[random.Next(3)];
        int[] keyLengths = Array.Empty<int>();
        if ((configuration.Mask & AttentionMask.KeyPadding) != 0)
        {
            keyLengths = new int[batch];
            for (int b = 0; b < batch; b++)
            {
                keyLengths[b] = random.Next(4) switch
                {
                    0 => keyLength,
                    1 => 0,
                    _ => random.Next(0, keyLength + 1),
                };
            }
        }

        MaskData? mask = (configuration.Mask & AttentionMask.Explicit) != 0
            ? MaskData.Random(random, batch, configuration.Heads, queryLength, keyLength)
            : null;

        return new AttentionProblem
        {
            Configuration = configuration,
            Batch = batch,
            QueryLength = queryLength,
            KeyLength = keyLength,
            Query = Tensors.Normal(random, batch * queryLength * configuration.Heads * configuration.HeadDim, magnitude),
            Key = Tensors.Normal(random, batch * keyLength * configuration.KvHeads * configuration.HeadDim, magnitude),
            Value = Tensors.Normal(random, batch * keyLength * configuration.KvHeads * configuration.ValueDim),
            KeyLengths = keyLengths,
            Mask = mask,
        };
    }

    /// <summary>The reference's answer.</summary>
    public float[] RunReference()
    {
        var output = new float[OutputLength];
        ReferenceAttention.Forward(Configuration, Query, Key, Value, output, Batch, QueryLength, KeyLength, KeyLengths, Mask is null ? default : Mask.Create());
        return output;
    }

    /// <summary>The kernel's answer, from an output buffer that starts as NaN and has a tail that must survive.</summary>
    public float[] Run(KernelUnderTest kernel) => Tensors.RunGuarded(
        OutputLength,
        output => kernel.Forward(Query, Key, Value, output, Batch, QueryLength, KeyLength, KeyLengths, Mask is null ? default : Mask.Create()),
        () => Describe(kernel));

    /// <summary>
    /// The factor by which a comparison of this problem's outputs scales its absolute tolerance: the size of its scores
    /// (<see cref="Tensors.ScoreSize"/>, from its queries and keys). Any two computations of its outputs in float differ
    /// by about that much more, whichever two they are: a kernel and the reference, or two calls of one kernel.
    /// </summary>
    public double ScoreSize => Tensors.ScoreSize(Configuration.Scale, Configuration.HeadDim, Tensors.RootMeanSquare(Query), Tensors.RootMeanSquare(Key));

    /// <summary>
    /// Checks the kernel's output against the double-precision reference: within <paramref name="absolute"/> +
    /// <paramref name="relative"/>·|expected|, the absolute part scaled by <see cref="ScoreSize"/>.
    /// </summary>
    public void AssertMatchesReference(KernelUnderTest kernel, double absolute = 2e-5, double relative = 1e-4)
    {
        absolute *= ScoreSize;
        float[] actual = Run(kernel);
        float[] expected = RunReference();
        for (int i = 0; i < actual.Length; i++)
        {
            if (float.IsNaN(actual[i]) || float.IsInfinity(actual[i]))
            {
                throw new XunitException($"{Describe(kernel)}: element {i} is {actual[i]}; attention output is always finite for finite inputs.");
            }
        }

        Tensors.AssertClose(expected, actual, absolute, relative, Describe(kernel));
    }

    public string Describe(KernelUnderTest kernel) => string.Format(CultureInfo.InvariantCulture,
        "{0} with batch {1}, queryLength {2}, keyLength {3}{4}{5}",
        kernel.Name, Batch, QueryLength, KeyLength,
        KeyLengths.Length > 0 ? ", keyLengths [" + string.Join(", ", KeyLengths) + "]" : string.Empty,
        Mask is { } m ? $", {(m.IsBoolean ? "boolean" : "additive")} mask [{m.Batch}, {m.Heads}, {m.QueryLength}, {m.KeyLength}]" : string.Empty);
}
