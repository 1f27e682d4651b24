using System.Collections.Generic;
using System.Linq;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

/// <summary>One parameter of a generated method: its C# type (global-qualified), its name, and an optional default.</summary>
internal sealed record Parameter(string Type, string Name, string? Default = null)
{
    /// <summary>The type as a cref writes it: <c>global::System.ReadOnlySpan{float}</c>.</summary>
    public string CrefType => Type.Replace('<', '{').Replace('>', '}');
}

/// <summary>
/// A generated method's signature, written once and used three ways: to declare the method on the shared kernel class,
/// to forward a declaration's method to it, and to point the declaration's documentation at it.
/// </summary>
internal sealed record Signature(string ReturnType, string Name, IReadOnlyList<Parameter> Parameters)
{
    /// <summary><c>public static void Forward(global::System.ReadOnlySpan&lt;float&gt; query, ...)</c>.</summary>
    public string Declaration =>
        $"public static {ReturnType} {Name}({string.Join(", ", Parameters.Select(p => p.Type + " " + p.Name + (p.Default is null ? string.Empty : " = " + p.Default)))})";

    /// <summary>A call of the method on <paramref name="owner"/> that passes every parameter through.</summary>
    public string Call(string owner) => $"{owner}.{Name}({string.Join(", ", Parameters.Select(p => p.Name))})";

    /// <summary>A cref to the method on <paramref name="owner"/>.</summary>
    public string Cref(string owner) => $"{owner}.{Name}({string.Join(", ", Parameters.Select(p => p.CrefType))})";

    private const string ReadOnlySpanOfFloat = "global::System.ReadOnlySpan<float>";
    private const string SpanOfFloat = "global::System.Span<float>";
    private const string Precision = "global::AttentionGen.KvCachePrecision";

    /// <summary>The methods a declaration has for <paramref name="kernel"/>, in the order they are written.</summary>
    public static IReadOnlyList<Signature> For(KernelConfiguration kernel)
    {
        var signatures = new List<Signature> { ForwardOverTensors(kernel), ForwardWithWeights(kernel), ForwardWithLogSumExp(kernel), CreateCache };
        if (kernel.HasWindow)
        {
            signatures.Add(CreateRingCache);
        }

        signatures.Add(ForwardOverCache(kernel));
        return signatures;
    }

    /// <summary><c>Forward(query, key, value, output, batch, queryLength, keyLength[, keyLengths][, mask])</c>.</summary>
    public static Signature ForwardOverTensors(KernelConfiguration kernel)
    {
        var parameters = new List<Parameter>
        {
            new(ReadOnlySpanOfFloat, "query"),
            new(ReadOnlySpanOfFloat, "key"),
            new(ReadOnlySpanOfFloat, "value"),
            new(SpanOfFloat, "output"),
            new("int", "batch"),
            new("int", "queryLength"),
            new("int", "keyLength"),
        };
        if (kernel.HasKeyPadding)
        {
            parameters.Add(new("global::System.ReadOnlySpan<int>", "keyLengths"));
        }

        if (kernel.HasExplicitMask)
        {
            parameters.Add(new("global::AttentionGen.ExplicitMask", "mask"));
        }

        return new Signature("void", "Forward", parameters);
    }

    /// <summary><c>Forward(query, key, value, output, batch, queryLength, keyLength[, keyLengths][, mask], weights, kind)</c>.</summary>
    public static Signature ForwardWithWeights(KernelConfiguration kernel) =>
        ForwardOverTensors(kernel).Append(new Parameter(SpanOfFloat, "weights"), new Parameter("global::AttentionGen.AttentionWeights", "kind"));

    /// <summary><c>Forward(query, key, value, output, batch, queryLength, keyLength[, keyLengths][, mask], logSumExp)</c>.</summary>
    public static Signature ForwardWithLogSumExp(KernelConfiguration kernel) =>
        ForwardOverTensors(kernel).Append(new Parameter(SpanOfFloat, "logSumExp"));

    /// <summary>This signature with <paramref name="parameters"/> added at the end.</summary>
    private Signature Append(params Parameter[] parameters) => this with { Parameters = Parameters.Concat(parameters).ToList() };

    /// <summary><c>Forward(query, cache, output, batch, queryLength[, mask])</c>.</summary>
    public static Signature ForwardOverCache(KernelConfiguration kernel)
    {
        var parameters = new List<Parameter>
        {
            new(ReadOnlySpanOfFloat, "query"),
            new("global::AttentionGen.KvCache", "cache"),
            new(SpanOfFloat, "output"),
            new("int", "batch"),
            new("int", "queryLength"),
        };
        if (kernel.HasExplicitMask)
        {
            parameters.Add(new("global::AttentionGen.ExplicitMask", "mask"));
        }

        return new Signature("void", "Forward", parameters);
    }

    /// <summary><c>CreateCache(batch, capacity, precision = Single)</c>.</summary>
    public static Signature CreateCache { get; } = new(
        "global::AttentionGen.KvCache", "CreateCache",
        new Parameter[] { new("int", "batch"), new("int", "capacity"), new(Precision, "precision", Precision + ".Single") });

    /// <summary><c>CreateCache(batch, capacity, precision, overflow)</c>, for kernels with a sliding window.</summary>
    public static Signature CreateRingCache { get; } = new(
        "global::AttentionGen.KvCache", "CreateCache",
        new Parameter[] { new("int", "batch"), new("int", "capacity"), new(Precision, "precision"), new("global::AttentionGen.KvCacheOverflow", "overflow") });
}
