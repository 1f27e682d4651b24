using Microsoft.CodeAnalysis.CSharp;

namespace AttentionGen.Generator.Helpers;

/// <summary>Identifiers as generated code writes them.</summary>
internal static class Identifiers
{
    /// <summary>
    /// <paramref name="name"/> as C# source: prefixed with <c>@</c> when it is a keyword or a contextual keyword
    /// (<c>@class</c>, <c>@record</c>), or made of lower-case ASCII letters only, which the compiler warns may become
    /// keywords (CS8981) unless escaped. An escaped identifier is always legal and means the same name.
    /// </summary>
    public static string Escape(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None || SyntaxFacts.GetContextualKeywordKind(name) != SyntaxKind.None || IsLowerAscii(name)
            ? "@" + name
            : name;

    private static bool IsLowerAscii(string name)
    {
        foreach (char c in name)
        {
            if (c is < 'a' or > 'z')
            {
                return false;
            }
        }

        return name.Length > 0;
    }
}
