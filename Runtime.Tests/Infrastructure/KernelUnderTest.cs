using System;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>A generated <c>Forward</c> with every optional argument, whichever the kernel actually takes.</summary>
public delegate void ForwardAll(
    ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output,
    int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask);

/// <summary>A generated kernel, its configuration and a uniform way to call it.</summary>
public sealed record KernelUnderTest(string Name, AttentionConfiguration Configuration, ForwardAll Forward)
{
    public override string ToString() => Name;
}
