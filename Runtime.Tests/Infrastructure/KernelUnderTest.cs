using System;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>A generated <c>Forward</c> with every optional argument, whichever the kernel actually takes.</summary>
public delegate void ForwardAll(
    ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
    int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask);

/// <summary>A generated <c>Forward</c> over a <see cref="KvCache"/>, with the mask whether or not the kernel takes one.</summary>
public delegate void ForwardCachedAll(ReadOnlySpan<float> query, KvCache cache, Span<float> output, int batch, int queryLength, ExplicitMask mask);

/// <summary>A generated kernel, its configuration and a uniform way to call both its <c>Forward</c> methods.</summary>
public sealed record KernelUnderTest(string Name, AttentionConfiguration Configuration, ForwardAll Forward, ForwardCachedAll ForwardCached)
{
    public override string ToString() => Name;
}
