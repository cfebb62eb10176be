namespace Hvrt.Layout;

/// <summary>
/// Linux errno values. Every export returns 0 or one of these negated, exactly as the kernel
/// returns them from the same ioctl; hvrt.h's HVRT_ERRNO_MAP lists the same numbers.
/// </summary>
internal static class Errno
{
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int E2BIG = 7;
    public const int EBADF = 9;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int EMFILE = 24;
    public const int ENOTTY = 25;
    public const int ENOSPC = 28;
    public const int ERANGE = 34;
    public const int EDEADLK = 35;
    public const int ENOSYS = 38;
    public const int EOPNOTSUPP = 95;
    public const int EHWPOISON = 133;

    /// <summary>hvrt's own code for a caught exception (outside the errno range, as libuv's).</summary>
    public const int EINTERNAL = 4000;
}
