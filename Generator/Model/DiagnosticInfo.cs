using AttentionGen.Generator.Helpers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace AttentionGen.Generator.Model;

/// <summary>
/// A diagnostic waiting to be reported: the descriptor, where (a syntax tree and a span, so the diagnostic lands in
/// source and <c>#pragma warning disable</c> works on it) and the message arguments as strings, so that it has
/// value equality. It lives beside the model, never inside it.
/// </summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, SyntaxTree? SyntaxTree, TextSpan Span, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, Location location, params string[] arguments) =>
        new(descriptor, location.SourceTree, location.SourceSpan, new EquatableArray<string>(arguments));

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(
            Descriptor,
            SyntaxTree is null ? Location.None : Location.Create(SyntaxTree, Span),
            System.Linq.Enumerable.ToArray(Arguments));
}
