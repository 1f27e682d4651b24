using System;
using System.Collections.Immutable;
using System.Linq;
using AttentionGen.Generator.Diagnostics;
using AttentionGen.Generator.Emitter;
using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.Generator;

/// <summary>
/// Turns each <c>[Attention]</c> partial type into a specialized, fused SIMD attention kernel.
/// </summary>
/// <remarks>
/// The pipeline is parser → model → emitter. <see cref="Parser"/> reads the attribute into a
/// <see cref="KernelModel"/> (plain equatable values) and a list of <see cref="DiagnosticInfo"/>; diagnostics and
/// source are reported by two separate outputs, so a change that only moves a diagnostic never re-emits code, and
/// an edit anywhere else leaves every output cached.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed partial class AttentionGenerator : IIncrementalGenerator
{
    /// <summary>The metadata name of the attribute the generator looks for.</summary>
    public const string AttributeMetadataName = "AttentionGen.AttentionAttribute";

    /// <summary>Names of the pipeline steps, for incremental-generation tests.</summary>
    public static class StepNames
    {
        /// <summary>The attribute read into a model and diagnostics.</summary>
        public const string Parse = nameof(Parse);

        /// <summary>The diagnostics alone.</summary>
        public const string Diagnostics = nameof(Diagnostics);

        /// <summary>ATTN0024 for <c>[AttentionProjections]</c> on a type without <c>[Attention]</c>.</summary>
        public const string OrphanProjections = nameof(OrphanProjections);

        /// <summary>The model alone, for declarations that can be generated.</summary>
        public const string Model = nameof(Model);

        /// <summary>The compilation's assembly name, which names the shared kernel classes.</summary>
        public const string AssemblyName = nameof(AssemblyName);

        /// <summary>The members emitted into each declaration's partial type.</summary>
        public const string Emit = nameof(Emit);

        /// <summary>The distinct configurations of all declarations, one shared kernel class each.</summary>
        public const string Kernels = nameof(Kernels);

        /// <summary>The emitted shared kernel classes.</summary>
        public const string EmitKernel = nameof(EmitKernel);
    }

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<ParseResult> parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttributeMetadataName,
                static (node, _) => node is TypeDeclarationSyntax,
                static (context, cancellationToken) => Parser.Parse(context, cancellationToken))
            .WithTrackingName(StepNames.Parse);

        IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> diagnostics = parsed
            .Select(static (result, _) => result.Diagnostics)
            .Where(static diagnostics => diagnostics.Count > 0)
            .WithTrackingName(StepNames.Diagnostics);

        context.RegisterSourceOutput(diagnostics, static (context, diagnostics) =>
        {
            foreach (DiagnosticInfo diagnostic in diagnostics)
            {
                context.ReportDiagnostic(diagnostic.ToDiagnostic());
            }
        });

        // [AttentionProjections] is read with the [Attention] it belongs to; alone, it is reported here.
        IncrementalValuesProvider<EquatableArray<DiagnosticInfo>> orphans = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                Parser.ProjectionsMetadataName,
                static (node, _) => node is TypeDeclarationSyntax,
                static (context, _) => Parser.OrphanProjections(context))
            .Where(static diagnostics => diagnostics.Count > 0)
            .WithTrackingName(StepNames.OrphanProjections);

        context.RegisterSourceOutput(orphans, static (context, diagnostics) =>
        {
            foreach (DiagnosticInfo diagnostic in diagnostics)
            {
                context.ReportDiagnostic(diagnostic.ToDiagnostic());
            }
        });

        IncrementalValuesProvider<KernelModel> models = parsed
            .Select(static (result, _) => result.Model!)
            .Where(static model => model is not null)
            .WithTrackingName(StepNames.Model);

        // The shared kernel classes are named after the assembly too (see KernelNames); the name is a string, so an
        // edit leaves this step's output equal and everything after it cached.
        IncrementalValueProvider<string> assemblyName = context.CompilationProvider
            .Select(static (compilation, _) => compilation.AssemblyName ?? string.Empty)
            .WithTrackingName(StepNames.AssemblyName);

        // Each declaration's members, emitted on their own and cached on their own.
        IncrementalValuesProvider<GeneratedSource> declarations = models
            .Combine(assemblyName)
            .Select(static (pair, cancellationToken) => KernelEmitter.TryEmitDeclaration(pair.Left, pair.Right, cancellationToken))
            .WithTrackingName(StepNames.Emit);

        // One shared kernel class per distinct configuration, however many declarations have it; each is emitted on
        // its own and stays cached while its configuration is unchanged.
        IncrementalValuesProvider<GeneratedSource> kernels = models
            .Select(static (model, _) => model.Kernel)
            .Collect()
            .SelectMany(static (configurations, _) => configurations.Distinct())
            .WithTrackingName(StepNames.Kernels)
            .Combine(assemblyName)
            .Select(static (pair, cancellationToken) => KernelEmitter.TryEmitKernel(pair.Left, pair.Right, cancellationToken))
            .WithTrackingName(StepNames.EmitKernel);

        // Only the hint names are assigned over all files, since uniqueness (without regard to case) is a property of
        // the whole set.
        IncrementalValueProvider<ImmutableArray<GeneratedSource>> sources = declarations.Collect()
            .Combine(kernels.Collect())
            .Select(static (pair, _) => pair.Left.AddRange(pair.Right));

        context.RegisterSourceOutput(sources, static (context, sources) => WriteSources(sources, context.AddSource, context.ReportDiagnostic));
    }

    /// <summary>
    /// The source output: each emitted kernel added under its hint name, and each failure to emit reported as ATTN0016
    /// while the other kernels are still added.
    /// </summary>
    internal static void WriteSources(ImmutableArray<GeneratedSource> sources, Action<string, string> addSource, Action<Diagnostic> reportDiagnostic)
    {
        foreach ((GeneratedSource source, string hintName) in HintNames.Assign(sources))
        {
            if (source.Failure is null)
            {
                addSource(hintName, source.Text);
            }
            else
            {
                // The only diagnostic raised here: emitting failed, which a correct generator never does. Saying so
                // beats the alternative, a generator exception that the compiler turns into warning CS8785 while the
                // code silently disappears.
                reportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.InternalError, Location.None, source.TypeName, source.Failure));
            }
        }
    }

    /// <summary>What the parser makes of one declaration: a model when it can be generated, and its diagnostics.</summary>
    internal sealed record ParseResult(KernelModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);
}

/// <summary>The emitter's output for one type, named by its full name: source text, or why it could not be written.</summary>
internal sealed record GeneratedSource(string TypeName, string Text, string? Failure);
