using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Text;
using AttentionGen.Testing;
using Microsoft.CodeAnalysis;

namespace AttentionGen.Runtime.Tests.Infrastructure;

/// <summary>
/// Generates kernels for configurations chosen at test time: writes one <c>[Attention]</c> type per configuration,
/// runs the generator, compiles everything in memory, loads the assembly and returns a callable kernel for each.
/// This is how the tests reach configurations (random ones, the ONNX cases') that no declared type has.
/// </summary>
public static class InMemoryKernels
{
    public static IReadOnlyList<KernelUnderTest> Build(IReadOnlyList<(string Name, AttentionConfiguration Configuration)> declarations)
    {
        var source = new StringBuilder();
        source.AppendLine("using System;");
        source.AppendLine("using AttentionGen;");
        source.AppendLine("namespace InMemory;");
        foreach ((string name, AttentionConfiguration configuration) in declarations)
        {
            bool padding = (configuration.Mask & AttentionMask.KeyPadding) != 0;
            bool explicitMask = (configuration.Mask & AttentionMask.Explicit) != 0;
            source.AppendLine($"[Attention({AttributeArguments(configuration)})]");
            source.AppendLine($"internal static partial class {name};");
            source.AppendLine($"internal static class {name}Adapter");
            source.AppendLine("{");
            source.AppendLine("    public static void Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output, int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask) =>");
            source.AppendLine($"        {name}.Forward(query, key, value, output, batch, queryLength, keyLength{(padding ? ", keyLengths" : string.Empty)}{(explicitMask ? ", mask" : string.Empty)});");
            source.AppendLine("    public static void ForwardWeights(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output, int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask, Span<float> weights, AttentionWeights kind) =>");
            source.AppendLine($"        {name}.Forward(query, key, value, output, batch, queryLength, keyLength{(padding ? ", keyLengths" : string.Empty)}{(explicitMask ? ", mask" : string.Empty)}, weights, kind);");
            source.AppendLine("    public static void ForwardLogSumExp(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value, Span<float> output, int batch, int queryLength, int keyLength, ReadOnlySpan<int> keyLengths, ExplicitMask mask, Span<float> logSumExp) =>");
            source.AppendLine($"        {name}.Forward(query, key, value, output, batch, queryLength, keyLength{(padding ? ", keyLengths" : string.Empty)}{(explicitMask ? ", mask" : string.Empty)}, logSumExp);");
            source.AppendLine("    public static void ForwardCached(ReadOnlySpan<float> query, KvCache cache, Span<float> output, int batch, int queryLength, ExplicitMask mask) =>");
            source.AppendLine($"        {name}.Forward(query, cache, output, batch, queryLength{(explicitMask ? ", mask" : string.Empty)});");
            source.AppendLine("}");
        }

        Compilation compilation = TestCompilation.Create(new[] { source.ToString() });
        (Compilation output, GeneratorDriverRunResult result) = TestCompilation.RunGenerator(compilation);
        Diagnostic[] generatorDiagnostics = result.Diagnostics.ToArray();
        if (generatorDiagnostics.Length > 0)
        {
            throw new InvalidOperationException("The generator reported:\n" + string.Join("\n", generatorDiagnostics.Select(d => d.ToString())));
        }

        Assembly assembly = Assembly.Load(TestCompilation.Emit(output));
        return declarations
            .Select(declaration =>
            {
                Type adapter = assembly.GetType($"InMemory.{declaration.Name}Adapter", throwOnError: true)!;
                return new KernelUnderTest(
                    declaration.Name,
                    (AttentionConfiguration)assembly.GetType("InMemory." + declaration.Name, throwOnError: true)!.GetProperty("Configuration")!.GetValue(null)!,
                    adapter.GetMethod("Forward")!.CreateDelegate<ForwardAll>(),
                    adapter.GetMethod("ForwardCached")!.CreateDelegate<ForwardCachedAll>())
                {
                    ForwardWeights = adapter.GetMethod("ForwardWeights")!.CreateDelegate<ForwardWeightsAll>(),
                    ForwardLogSumExp = adapter.GetMethod("ForwardLogSumExp")!.CreateDelegate<ForwardLogSumExpAll>(),
                };
            })
            .ToList();
    }

    /// <summary>The attribute arguments that declare <paramref name="configuration"/>.</summary>
    public static string AttributeArguments(AttentionConfiguration configuration)
    {
        var arguments = new List<string>
        {
            $"Heads = {configuration.Heads}",
            $"KvHeads = {configuration.KvHeads}",
            $"HeadDim = {configuration.HeadDim}",
            $"ValueDim = {configuration.ValueDim}",
        };
        if (configuration.Mask != AttentionMask.None)
        {
            arguments.Add("Mask = " + string.Join(" | ",
                Enum.GetValues<AttentionMask>().Where(flag => flag != AttentionMask.None && (configuration.Mask & flag) != 0).Select(flag => "AttentionMask." + flag)));
        }

        if (configuration.Alignment != MaskAlignment.Unspecified)
        {
            arguments.Add("Alignment = MaskAlignment." + configuration.Alignment);
        }

        if (configuration.WindowLeft != 0)
        {
            arguments.Add($"WindowLeft = {configuration.WindowLeft}");
        }

        if (configuration.WindowRight != 0)
        {
            arguments.Add($"WindowRight = {configuration.WindowRight}");
        }

        arguments.Add("Scale = " + configuration.Scale.ToString("R", CultureInfo.InvariantCulture) + "f");
        if (configuration.Softcap != 0)
        {
            arguments.Add("Softcap = " + configuration.Softcap.ToString("R", CultureInfo.InvariantCulture) + "f");
        }

        arguments.Add("Layout = AttentionLayout." + configuration.Layout);
        return string.Join(", ", arguments);
    }
}
