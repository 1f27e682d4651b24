using Microsoft.CodeAnalysis;

namespace AttentionGen.Generator.Diagnostics;

/// <summary>
/// Every diagnostic the generator reports. IDs are stable: a shipped ID is never reused for another meaning.
/// Each has a page at <c>docs/diagnostics/ATTNxxxx.md</c>, linked from the IDE.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "AttentionGen";
    private const string HelpLinkBase = "https://github.com/attention-gen/attention-gen/blob/main/docs/diagnostics/";

    /// <summary>ATTN0001: the annotated type is not partial.</summary>
    public static readonly DiagnosticDescriptor TypeNotPartial = Error(
        "ATTN0001",
        "Attention type must be partial",
        "The type '{0}' has [Attention] but is not partial; add the 'partial' modifier so the generator can add the kernel to it");

    /// <summary>ATTN0002: a type that contains the annotated type is not partial.</summary>
    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Error(
        "ATTN0002",
        "Type containing an attention type must be partial",
        "The type '{0}' contains the [Attention] type '{1}' but is not partial; add the 'partial' modifier to '{0}' or move '{1}' out of it");

    /// <summary>ATTN0003: the annotated type, or a type containing it, is generic.</summary>
    public static readonly DiagnosticDescriptor GenericType = Error(
        "ATTN0003",
        "Attention type cannot be generic",
        "The type '{0}' is generic{1}; a kernel is specialized to constants, so declare it on a non-generic type outside any generic type");

    /// <summary>ATTN0004: Heads is outside 1–4096.</summary>
    public static readonly DiagnosticDescriptor HeadsNotPositive = Rule("ATTN0004", "Heads must be from 1 to 4096", ConfigurationProblem.HeadsNotPositive);

    /// <summary>ATTN0005: HeadDim is outside 1–512.</summary>
    public static readonly DiagnosticDescriptor HeadDimOutOfRange = Rule("ATTN0005", "HeadDim must be from 1 to 512", ConfigurationProblem.HeadDimOutOfRange);

    /// <summary>ATTN0006: ValueDim is outside 1–512 (0 means HeadDim).</summary>
    public static readonly DiagnosticDescriptor ValueDimOutOfRange = Rule("ATTN0006", "ValueDim must be from 1 to 512, or 0", ConfigurationProblem.ValueDimOutOfRange);

    /// <summary>ATTN0007: KvHeads does not divide Heads.</summary>
    public static readonly DiagnosticDescriptor KvHeadsInvalid = Rule("ATTN0007", "KvHeads must divide Heads", ConfigurationProblem.KvHeadsInvalid);

    /// <summary>ATTN0008: Causal or SlidingWindow without an Alignment.</summary>
    public static readonly DiagnosticDescriptor AlignmentRequired = Rule("ATTN0008", "Causal and sliding-window masks need an Alignment", ConfigurationProblem.AlignmentRequired);

    /// <summary>ATTN0009: Alignment without a mask that uses it.</summary>
    public static readonly DiagnosticDescriptor AlignmentWithoutPositionalMask = Rule("ATTN0009", "Alignment is set without a mask that uses it", ConfigurationProblem.AlignmentWithoutPositionalMask);

    /// <summary>ATTN0010: a window size without SlidingWindow.</summary>
    public static readonly DiagnosticDescriptor WindowWithoutSlidingWindow = Rule("ATTN0010", "Window size is set without SlidingWindow", ConfigurationProblem.WindowWithoutSlidingWindow);

    /// <summary>ATTN0011: a negative window size.</summary>
    public static readonly DiagnosticDescriptor WindowNegative = Rule("ATTN0011", "Window sizes cannot be negative", ConfigurationProblem.WindowNegative);

    /// <summary>ATTN0012: Scale is negative, NaN or infinite.</summary>
    public static readonly DiagnosticDescriptor ScaleInvalid = Rule("ATTN0012", "Scale must be finite and positive, or 0", ConfigurationProblem.ScaleInvalid);

    /// <summary>ATTN0013: Softcap is negative, NaN, or outside the range the kernels can compute with.</summary>
    public static readonly DiagnosticDescriptor SoftcapInvalid = Rule("ATTN0013", "Softcap must be from 1.1754944E-38 to 1.7014117E+38, or 0", ConfigurationProblem.SoftcapInvalid);

    /// <summary>ATTN0014: an enum property holds a value that is not one of its members.</summary>
    public static readonly DiagnosticDescriptor UnknownEnumValue = Rule("ATTN0014", "Attention property has an unknown enum value", ConfigurationProblem.UnknownEnumValue);

    /// <summary>ATTN0015: the project's C# version is older than 11.</summary>
    public static readonly DiagnosticDescriptor LanguageVersionTooLow = Error(
        "ATTN0015",
        "Attention kernels need C# 11 or later",
        "The project compiles with C# {0}, but generated kernels need C# 11 or later (static abstract interface members, file-local types); remove the LangVersion setting or set it to 11 or later");

    /// <summary>ATTN0016: the generator failed; reported instead of letting the build drop the generator.</summary>
    public static readonly DiagnosticDescriptor InternalError = Error(
        "ATTN0016",
        "The attention generator failed",
        "The attention generator failed on '{0}' and generated nothing for it: {1}. Please report this, with the declaration, as an issue.");

    /// <summary>ATTN0017: [Attention] on more than one partial declaration of a type.</summary>
    public static readonly DiagnosticDescriptor DuplicateAttribute = Error(
        "ATTN0017",
        "Attention attribute is repeated",
        "The type '{0}' already has [Attention] on another of its partial declarations, which generates its kernel; remove this one");

    /// <summary>ATTN0018: the type declares a member with the name of one the generator adds.</summary>
    public static readonly DiagnosticDescriptor MemberClash = Error(
        "ATTN0018",
        "Member clashes with a generated member",
        "The type '{0}' declares '{1}', a name the generator gives a member it adds (Heads, KvHeads, HeadDim, ValueDim, Configuration, Forward, CreateCache); rename or remove this member");

    /// <summary>ATTN0019: the annotated type has the name of a member the generator adds.</summary>
    public static readonly DiagnosticDescriptor TypeNamedLikeGeneratedMember = Error(
        "ATTN0019",
        "Attention type is named like a generated member",
        "The type '{0}' is named '{1}', like a member the generator adds to it, and C# forbids a member named like its type; rename the type");

    /// <summary>ATTN0020: the annotated type is file-local.</summary>
    public static readonly DiagnosticDescriptor FileLocalType = Error(
        "ATTN0020",
        "Attention type cannot be file-local",
        "The type '{0}' is file-local{1}, but the generator adds its kernel in a file of its own, where a file-local type is out of reach; declare the type internal (or private inside an internal type) instead of file");

    /// <summary>ATTN0021: Scale is so large that scores overflow float.</summary>
    public static readonly DiagnosticDescriptor ScaleTooLarge = Rule("ATTN0021", "Scale is too large for float scores", ConfigurationProblem.ScaleTooLarge);

    /// <summary>ATTN0022: an [AttentionProjections] size is out of range.</summary>
    public static readonly DiagnosticDescriptor ProjectionSizeOutOfRange = Error(
        "ATTN0022",
        "Projection sizes must be from 1 to 65536",
        "{0} is {1}; it must be from 1 to 65536{2}");

    /// <summary>ATTN0023: [AttentionProjections] on a kernel whose layout is not Bshd.</summary>
    public static readonly DiagnosticDescriptor ProjectionsNeedBshd = Error(
        "ATTN0023",
        "Attention projections need the Bshd layout",
        "The type '{0}' has [AttentionProjections] but its kernel's Layout is {1}; projections write [batch, sequence, heads, dim], so remove Layout or set it to AttentionLayout.Bshd");

    /// <summary>ATTN0024: [AttentionProjections] without [Attention].</summary>
    public static readonly DiagnosticDescriptor ProjectionsWithoutAttention = Error(
        "ATTN0024",
        "Attention projections need an Attention attribute",
        "The type '{0}' has [AttentionProjections] but no [Attention]; add [Attention(...)] with the heads and head sizes of the layer's kernel");

    /// <summary>The descriptor for a rule of <see cref="ConfigurationRules"/>.</summary>
    public static DiagnosticDescriptor For(ConfigurationProblem problem) => problem switch
    {
        ConfigurationProblem.HeadsNotPositive => HeadsNotPositive,
        ConfigurationProblem.HeadDimOutOfRange => HeadDimOutOfRange,
        ConfigurationProblem.ValueDimOutOfRange => ValueDimOutOfRange,
        ConfigurationProblem.KvHeadsInvalid => KvHeadsInvalid,
        ConfigurationProblem.AlignmentRequired => AlignmentRequired,
        ConfigurationProblem.AlignmentWithoutPositionalMask => AlignmentWithoutPositionalMask,
        ConfigurationProblem.WindowWithoutSlidingWindow => WindowWithoutSlidingWindow,
        ConfigurationProblem.WindowNegative => WindowNegative,
        ConfigurationProblem.ScaleInvalid => ScaleInvalid,
        ConfigurationProblem.SoftcapInvalid => SoftcapInvalid,
        ConfigurationProblem.ScaleTooLarge => ScaleTooLarge,
        _ => UnknownEnumValue,
    };

    private static DiagnosticDescriptor Rule(string id, string title, ConfigurationProblem problem) =>
        Error(id, title, ConfigurationRules.MessageFormat(problem));

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            description: null, helpLinkUri: HelpLinkBase + id + ".md");
}
