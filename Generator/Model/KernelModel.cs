using AttentionGen.Generator.Helpers;

namespace AttentionGen.Generator.Model;

/// <summary>
/// Everything the emitter needs to write one kernel, and nothing else: plain values with structural equality,
/// no symbols, syntax nodes, locations or compilations. Two equal models always produce the same source.
/// </summary>
/// <param name="Type">Where the kernel goes: the annotated type and the partial types around it.</param>
/// <param name="Kernel">The kernel's configuration, with defaults resolved.</param>
/// <param name="Projections">With <c>[AttentionProjections]</c>, the layer's sizes; otherwise null.</param>
internal sealed record KernelModel(TypeHierarchy Type, KernelConfiguration Kernel, ProjectionModel? Projections = null);

/// <summary>The sizes of a multi-head attention layer's projections, with defaults resolved.</summary>
internal sealed record ProjectionModel(int QuerySize, int KeySize, int ValueSize, int OutputSize, bool Bias)
{
    /// <summary>Whether queries, keys and values read rows of one size, so that one input can feed all three (self-attention).</summary>
    public bool HasSelfAttention => QuerySize == KeySize && KeySize == ValueSize;
}

/// <summary>The annotated type, its namespace and its containing types.</summary>
/// <param name="Namespace">The namespace as C# source, keywords escaped (<c>@fixed.Models</c>), or an empty string for the global namespace.</param>
/// <param name="Types">The types from the outermost to the annotated one, which is last.</param>
internal sealed record TypeHierarchy(string Namespace, EquatableArray<TypeDeclaration> Types)
{
    /// <summary>The annotated type.</summary>
    public TypeDeclaration Target => Types[Types.Count - 1];

    /// <summary>The dotted full name as people read it, such as <c>MyApp.Models.LlamaAttention</c>: no <c>@</c> escapes.</summary>
    public string FullName => Join(Namespace.Replace("@", string.Empty), static type => type.Name);

    /// <summary>The dotted full name as C# source, keywords escaped, such as <c>@fixed.@class</c>.</summary>
    public string SourceName => Join(Namespace, static type => type.Identifier);

    private string Join(string ns, System.Func<TypeDeclaration, string> name)
    {
        var builder = new System.Text.StringBuilder(ns);
        foreach (TypeDeclaration type in Types)
        {
            if (builder.Length > 0)
            {
                builder.Append('.');
            }

            builder.Append(name(type));
        }

        return builder.ToString();
    }
}

/// <summary>One partial type declaration: <c>class</c>, <c>struct</c>, <c>record</c> or <c>record struct</c>, and its name.</summary>
/// <param name="Keyword">The modifiers and keyword, such as <c>static partial class</c>.</param>
/// <param name="Name">The name as the symbol has it, without an <c>@</c> escape.</param>
internal sealed record TypeDeclaration(string Keyword, string Name)
{
    /// <summary>The name as C# source: <c>@class</c> for a type named <c>class</c>.</summary>
    public string Identifier => Identifiers.Escape(Name);
}

/// <summary>A kernel's constants, with every default resolved.</summary>
internal sealed record KernelConfiguration(
    int Heads,
    int KvHeads,
    int HeadDim,
    int ValueDim,
    AttentionMask Mask,
    MaskAlignment Alignment,
    int WindowLeft,
    int WindowRight,
    float Scale,
    bool ScaleIsDefault,
    float Softcap,
    AttentionLayout Layout)
{
    public int GroupSize => Heads / KvHeads;

    public bool IsCausal => (Mask & AttentionMask.Causal) != 0;

    public bool HasWindow => (Mask & AttentionMask.SlidingWindow) != 0;

    public bool HasKeyPadding => (Mask & AttentionMask.KeyPadding) != 0;

    public bool HasExplicitMask => (Mask & AttentionMask.Explicit) != 0;

    public bool HasSoftcap => Softcap > 0;
}
