using AttentionGen.Generator.Helpers;

namespace AttentionGen.Generator.Model;

/// <summary>
/// Everything the emitter needs to write one kernel, and nothing else: plain values with structural equality,
/// no symbols, syntax nodes, locations or compilations. Two equal models always produce the same source.
/// </summary>
/// <param name="Type">Where the kernel goes: the annotated type and the partial types around it.</param>
/// <param name="Kernel">The kernel's configuration, with defaults resolved.</param>
internal sealed record KernelModel(TypeHierarchy Type, KernelConfiguration Kernel);

/// <summary>The annotated type, its namespace and its containing types.</summary>
/// <param name="Namespace">The namespace, or an empty string for the global namespace.</param>
/// <param name="Types">The types from the outermost to the annotated one, which is last.</param>
internal sealed record TypeHierarchy(string Namespace, EquatableArray<TypeDeclaration> Types)
{
    /// <summary>The annotated type.</summary>
    public TypeDeclaration Target => Types[Types.Count - 1];

    /// <summary>The dotted full name, such as <c>MyApp.Models.LlamaAttention</c> or <c>MyApp.Outer.Inner</c>.</summary>
    public string FullName
    {
        get
        {
            var name = new System.Text.StringBuilder(Namespace);
            foreach (TypeDeclaration type in Types)
            {
                if (name.Length > 0)
                {
                    name.Append('.');
                }

                name.Append(type.Name);
            }

            return name.ToString();
        }
    }
}

/// <summary>One partial type declaration: <c>class</c>, <c>struct</c>, <c>record</c> or <c>record struct</c>, and its name.</summary>
internal sealed record TypeDeclaration(string Keyword, string Name);

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
