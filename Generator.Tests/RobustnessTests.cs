using System;
using System.Globalization;
using System.Linq;
using System.Threading;
using AttentionGen.Testing;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>The generator under hostile conditions: half-typed code and a culture that would break number formatting.</summary>
public sealed class RobustnessTests
{
    private const string FullDeclaration = """
        using AttentionGen;
        namespace Demo;
        public static partial class Outer
        {
            [Attention(Heads = 8, KvHeads = 2, HeadDim = 96, ValueDim = 80,
                       Mask = AttentionMask.Causal | AttentionMask.SlidingWindow | AttentionMask.KeyPadding | AttentionMask.Explicit,
                       Alignment = MaskAlignment.BottomRight, WindowLeft = 255, Scale = 0.125f, Softcap = 30f, Layout = AttentionLayout.Bhsd)]
            public static partial class Kernel { }
        }
        """;

    [Fact]
    public void Every_prefix_of_a_declaration_leaves_the_generator_standing()
    {
        // What an IDE feeds the generator while someone types: every prefix of the file, character by character.
        for (int length = 0; length <= FullDeclaration.Length; length++)
        {
            GeneratorRun run = GeneratorRun.Of(FullDeclaration[..length]);
            GeneratorRunResult result = Assert.Single(run.Result.Results);
            Assert.True(result.Exception is null, $"The generator threw on a prefix of {length} characters: {result.Exception}");
            Assert.DoesNotContain(run.Diagnostics, d => d.Id == "ATTN0016");
            if (run.HintNames.Length > 0)
            {
                Assert.Empty(run.Output.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree?.FilePath.EndsWith(".g.cs") == true));
            }
        }

        Assert.Equal(new[] { "Demo.Outer.Kernel.g.cs" }, GeneratorRun.Of(FullDeclaration).HintNames);
    }

    [Fact]
    public void Output_does_not_depend_on_the_current_culture()
    {
        // U+2212 as the minus sign and a decimal comma: formatting numbers with this culture writes C# that does not compile.
        var hostile = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        hostile.NumberFormat.NegativeSign = "\u2212";
        hostile.NumberFormat.NumberDecimalSeparator = ",";
        hostile.NumberFormat.PercentDecimalSeparator = ",";
        hostile.NumberFormat.CurrencyDecimalSeparator = ",";

        string invariant = Generate(CultureInfo.InvariantCulture);
        string underHostileCulture = Generate(hostile);
        Assert.Equal(invariant, underHostileCulture);
        Assert.Contains("0.125f", invariant);
        Assert.Contains("30.0f", invariant);

        static string Generate(CultureInfo culture)
        {
            CultureInfo previous = CultureInfo.CurrentCulture;
            CultureInfo.CurrentCulture = culture;
            try
            {
                GeneratorRun run = GeneratorRun.Of(FullDeclaration);
                Assert.Empty(run.CompilationProblems);
                return string.Concat(run.Result.Results[0].GeneratedSources.Select(source => source.HintName + "\n" + source.SourceText));
            }
            finally
            {
                CultureInfo.CurrentCulture = previous;
            }
        }
    }

    [Fact]
    public void Float_literals_round_trip()
    {
        // Values whose shortest text is long, computed at run time (a literal such as 16777217f is already 16777216 when
        // the test compiles): neighbours of round numbers, the extremes, a subnormal.
        float[] values =
        {
            0.1f, 1f / 3f, 0.088388346f, 1e-7f, 0.0625f, float.MaxValue, float.Epsilon, -float.MaxValue,
            MathF.BitIncrement(16777216f), MathF.BitIncrement(0.1f), MathF.BitDecrement(1f), MathF.BitIncrement(1e-7f),
            MathF.BitDecrement(ConfigurationRules.MaxSoftcap), BitConverter.Int32BitsToSingle(0x0000_0001 << 12),
        };
        Assert.Equal(16777218f, values[8]);
        foreach (float value in values)
        {
            string literal = Helpers.Literals.Float(value);
            Assert.EndsWith("f", literal);
            Assert.Equal(value, float.Parse(literal[..^1], CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void Cancellation_is_not_reported_as_a_failure()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var model = new Model.KernelModel(
            new Model.TypeHierarchy("N", new Helpers.EquatableArray<Model.TypeDeclaration>(new[] { new Model.TypeDeclaration("partial class", "K") })),
            new Model.KernelConfiguration(4, 4, 8, 8, default, default, 0, 0, 1f, false, 0f, default));
        Assert.ThrowsAny<System.OperationCanceledException>(() => Emitter.KernelEmitter.TryEmitDeclaration(model, "Tests", cancelled.Token));
        Assert.ThrowsAny<System.OperationCanceledException>(() => Emitter.KernelEmitter.TryEmitKernel(model.Kernel, "Tests", cancelled.Token));
    }
}
