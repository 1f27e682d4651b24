using System;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>A generated <c>Forward</c> with every optional argument, whichever the kernel actually takes.</summary>
public delegate void ForwardAll(
    ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
    int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask);

/// <summary>A generated <c>Forward</c> over a <see cref="KvCache"/>, with the mask whether or not the kernel takes one.</summary>
public delegate void ForwardCachedAll(ReadOnlySpan<float> query, KvCache cache, Span<float> output, int batch, int queryLength, ExplicitMask mask);

/// <summary>A generated <c>Forward</c> that also writes attention weights, with every optional argument.</summary>
public delegate void ForwardWeightsAll(
    ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
    int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask, Span<float> weights, AttentionWeights kind);

/// <summary>A generated <c>Forward</c> that also writes each row's log-sum-exp, with every optional argument.</summary>
public delegate void ForwardLogSumExpAll(
    ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
    int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask, Span<float> logSumExp);

/// <summary>A generated kernel, its configuration and a uniform way to call its <c>Forward</c> methods.</summary>
public sealed record KernelUnderTest(string Name, AttentionConfiguration Configuration, ForwardAll Forward, ForwardCachedAll ForwardCached)
{
    /// <summary>The <c>Forward</c> that writes attention weights; set for the kernels compiled in memory.</summary>
    public ForwardWeightsAll? ForwardWeights { get; init; }

    /// <summary>The <c>Forward</c> that writes log-sum-exps; set for the kernels compiled in memory.</summary>
    public ForwardLogSumExpAll? ForwardLogSumExp { get; init; }

    public override string ToString() => Name;
}
