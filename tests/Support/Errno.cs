namespace Hvrt.Tests.Support;

/// <summary>Negated errno values as the exports return them.</summary>
internal static class E
{
    public const int EPERM = -1;
    public const int ENOENT = -2;
    public const int E2BIG = -7;
    public const int EBADF = -9;
    public const int EFAULT = -14;
    public const int EEXIST = -17;
    public const int EINVAL = -22;
}
