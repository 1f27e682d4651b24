using System;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>
/// Token-major (Bshd) calls with several key/value heads and enough query rows read each head from a thread's
/// consecutive copy of it (CompilerServices.TensorHeads), made on its first work item on that head and reused by its
/// next ones: in that call only, whatever the thread count, and never by a later call on the same buffers. Heads whose
/// blocks read one tile of keys or fewer are read in place unless their rows lie a multiple of 4 KiB apart.
/// </summary>
[Collection(nameof(SerialTests))]
public sealed class StagedHeadTests
{
    /// <summary>
    /// Bshd kernels with several key/value heads: 8 of 128 (rows 4 KiB apart: copied whatever the key count), and 2 of
    /// 128 shared by 4 query heads each (rows 1 KiB apart: read in place up to 128 keys, copied past them).
    /// </summary>
    public static TheoryData<string, int> Cases() => new()
    {
        { nameof(PackedKeysKernel), 1 }, { nameof(PackedKeysKernel), 2 }, { nameof(LlamaKernel), 1 }, { nameof(LlamaKernel), 2 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Heads_copied_or_read_in_place_give_the_reference_output(string name, int threads)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        int previous = AttentionRuntime.MaxDegreeOfParallelism;
        try
        {
            AttentionRuntime.MaxDegreeOfParallelism = threads;
            var random = new Random(threads * 31 + name.Length);
            foreach ((int queryLength, int keyLength) in new[] { (64, 64), (100, 128), (100, 129), (97, 150), (200, 131) })
            {
                (float[] q, float[] k, float[] v) = Inputs(kernel.Configuration, random, batch: 2, queryLength, keyLength);
                float[] expected = Reference(kernel.Configuration, q, k, v, 2, queryLength, keyLength);
                float[] actual = new float[expected.Length];
                kernel.Forward(q, k, v, actual, 2, queryLength, keyLength, default, default);
                Tensors.AssertClose(expected, actual, 2e-5, 1e-4, $"{name}, {threads} thread(s), {queryLength} queries, {keyLength} keys");
            }
        }
        finally
        {
            AttentionRuntime.MaxDegreeOfParallelism = previous;
        }
    }

    /// <summary>
    /// A thread's copy serves the rest of its call, and is made again for a later call on the same buffers (whose
    /// contents may have changed), for another head, or for another length.
    /// </summary>
    [Fact]
    public void A_staged_copy_serves_its_own_call_only()
    {
        const int heads = 3, dim = 4, length = 5, stride = heads * dim;
        float[] keys = Tensors.Normal(new Random(1), length * stride), values = Tensors.Normal(new Random(2), length * stride);
        float[] Stage(scoped in CompilerServices.AttentionArguments call, int kvHead, int keyCount)
        {
            ref float staged = ref CompilerServices.TensorHeads.Stage(in call, 0, kvHead, keyCount,
                ref keys[kvHead * dim], stride, dim, ref values[kvHead * dim], stride, dim);
            return System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref staged, 2 * keyCount * dim).ToArray();
        }

        float[] Expected(int kvHead, int keyCount)
        {
            var expected = new float[2 * keyCount * dim];
            for (int j = 0; j < keyCount; j++)
            {
                keys.AsSpan(j * stride + kvHead * dim, dim).CopyTo(expected.AsSpan(j * dim));
                values.AsSpan(j * stride + kvHead * dim, dim).CopyTo(expected.AsSpan((keyCount + j) * dim));
            }

            return expected;
        }

        var first = new CompilerServices.AttentionArguments(default, keys, values, default, 1, 1, length, default, default);
        Assert.Equal(Expected(1, length), Stage(in first, 1, length));

        // The same call again: the copy is reused, so a change to the tensor since is not seen.
        float[] before = Expected(1, length);
        keys[1 * dim] += 1;
        Assert.Equal(before, Stage(in first, 1, length));

        // Another call on the same buffers, another head, another length: each copies again.
        var second = new CompilerServices.AttentionArguments(default, keys, values, default, 1, 1, length, default, default);
        Assert.Equal(Expected(1, length), Stage(in second, 1, length));
        Assert.Equal(Expected(2, length), Stage(in second, 2, length));
        Assert.Equal(Expected(2, length - 2), Stage(in second, 2, length - 2));
    }

    private static (float[] Query, float[] Key, float[] Value) Inputs(AttentionConfiguration c, Random random, int batch, int queryLength, int keyLength) => (
        Tensors.Normal(random, batch * queryLength * c.Heads * c.HeadDim),
        Tensors.Normal(random, batch * keyLength * c.KvHeads * c.HeadDim),
        Tensors.Normal(random, batch * keyLength * c.KvHeads * c.ValueDim));

    private static float[] Reference(AttentionConfiguration c, float[] q, float[] k, float[] v, int batch, int queryLength, int keyLength)
    {
        float[] expected = new float[batch * queryLength * c.Heads * c.ValueDim];
        ReferenceAttention.Forward(c, q, k, v, expected, batch, queryLength, keyLength);
        return expected;
    }
}
