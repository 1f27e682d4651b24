using System;
using System.Linq;
using System.Reflection;
using AttentionGen.Runtime.Tests.Infrastructure;
using Xunit;

namespace AttentionGen.Runtime.Tests;

/// <summary>Each declared kernel against <see cref="ReferenceAttention"/> on random shapes and data.</summary>
public sealed class DeclaredKernelTests
{
    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void Kernel_matches_the_reference_on_random_problems(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        var random = new Random(TestSeed.For(name));
        for (int trial = 0; trial < 12; trial++)
        {
            AttentionProblem.Random(kernel.Configuration, random).AssertMatchesReference(kernel);
        }
    }

    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void Kernel_matches_the_reference_on_edge_shapes(string name)
    {
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        var random = new Random(TestSeed.For(name + "edges"));
        // (1, 64, 48): with causal masks aligned bottom-right, the first 16 rows see no key, and the next 16 see 1 to 16 of
        // them: a block of 32 rows whose lower half sees nothing and whose upper half's keys are all its own.
        foreach ((int batch, int queryLength, int keyLength) in new[] { (1, 1, 1), (1, 1, 0), (2, 0, 5), (0, 3, 3), (1, 64, 64), (1, 65, 63), (1, 64, 48), (2, 1, 129), (1, 17, 1), (3, 2, 200) })
        {
            AttentionProblem.Create(kernel.Configuration, random, batch, queryLength, keyLength).AssertMatchesReference(kernel);
        }
    }

    [Theory]
    [InlineData(nameof(BertKernel))]
    [InlineData(nameof(ExplicitKernel))]
    [InlineData(nameof(WideKernel))]
    [InlineData(nameof(LlamaKernel))]
    public void One_token_against_keys_longer_than_a_row_tile_matches_the_reference(string name)
    {
        // A single query row per head runs the one-row kernel over the tensors' keys, RowKeyTile at a time: three tiles,
        // the last one partial, with every key valid.
        KernelUnderTest kernel = DeclaredKernels.Get(name);
        var random = new Random(TestSeed.For(name + "row tiles"));
        int keyLength = 2 * KernelTiles.RowKeyTile + 300;
        AttentionProblem problem = AttentionProblem.Create(kernel.Configuration, random, 2, 1, keyLength);
        if (problem.KeyLengths.Length > 0)
        {
            problem.KeyLengths.AsSpan().Fill(keyLength);
        }

        problem.AssertMatchesReference(kernel);
    }

    [Theory]
    [MemberData(nameof(DeclaredKernels.Names), MemberType = typeof(DeclaredKernels))]
    public void Constants_and_configuration_agree(string name)
    {
        // The generated constants, the Configuration value and the attribute on the declaration say the same thing.
        AttentionConfiguration configuration = DeclaredKernels.Get(name).Configuration;
        configuration.Validate();
        Type type = typeof(DeclaredKernels).Assembly.GetTypes().Single(t => t.Name == name && t.GetCustomAttribute<AttentionAttribute>() is not null);
        AttentionAttribute declared = type.GetCustomAttribute<AttentionAttribute>()!;
        int Constant(string field) => (int)type.GetField(field, BindingFlags.Public | BindingFlags.Static)!.GetRawConstantValue()!;

        Assert.Equal((declared.Heads, declared.Heads), (Constant("Heads"), configuration.Heads));
        int kvHeads = declared.KvHeads == 0 ? declared.Heads : declared.KvHeads;
        Assert.Equal((kvHeads, kvHeads), (Constant("KvHeads"), configuration.KvHeads));
        Assert.Equal((declared.HeadDim, declared.HeadDim), (Constant("HeadDim"), configuration.HeadDim));
        int valueDim = declared.ValueDim == 0 ? declared.HeadDim : declared.ValueDim;
        Assert.Equal((valueDim, valueDim), (Constant("ValueDim"), configuration.ValueDim));
        Assert.Equal(declared.Mask, configuration.Mask);
        Assert.Equal(declared.Alignment, configuration.Alignment);
        Assert.Equal((declared.WindowLeft, declared.WindowRight), (configuration.WindowLeft, configuration.WindowRight));
        Assert.Equal(declared.Scale == 0 ? (float)(1.0 / Math.Sqrt(declared.HeadDim)) : declared.Scale, configuration.Scale); // 1/sqrt in double, rounded once
        Assert.Equal(declared.Softcap, configuration.Softcap);
        Assert.Equal(declared.Layout, configuration.Layout);
    }

    [Fact]
    public void Generated_constants_are_the_declared_values()
    {
        Assert.Equal(8, LlamaKernel.Heads);
        Assert.Equal(2, LlamaKernel.KvHeads);
        Assert.Equal(128, LlamaKernel.HeadDim);
        Assert.Equal(128, LlamaKernel.ValueDim);
        Assert.Equal(9, ExplicitKernel.ValueDim);
        Assert.Equal(1f / MathF.Sqrt(128), LlamaKernel.Configuration.Scale);
        Assert.Equal(0.0625f, GemmaKernel.Configuration.Scale);
        Assert.Equal(50f, GemmaKernel.Configuration.Softcap);
    }

    [Fact]
    public void Large_logits_do_not_overflow()
    {
        // Scores in the hundreds: exp would overflow float without the running maximum subtracted.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(LlamaKernel));
        var random = new Random(TestSeed.For("large logits"));
        AttentionProblem problem = AttentionProblem.Create(kernel.Configuration, random, 1, 40, 90);
        for (int i = 0; i < problem.Query.Length; i++)
        {
            problem.Query[i] *= 40;
        }

        problem.AssertMatchesReference(kernel, absolute: 1e-4, relative: 1e-3);
    }

    [Fact]
    public void Fully_masked_rows_are_zero_and_never_NaN()
    {
        // keyLengths of 0 leave every row of that batch entry without a visible key.
        KernelUnderTest kernel = DeclaredKernels.Get(nameof(BertKernel));
        var random = new Random(TestSeed.For("masked rows"));
        AttentionProblem problem = AttentionProblem.Create(kernel.Configuration, random, 2, 5, 7);
        Array.Clear(problem.KeyLengths);
        float[] output = problem.Run(kernel);
        Assert.All(output, value => Assert.Equal(0f, value));
    }
}
