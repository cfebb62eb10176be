using System.Collections.Generic;
using Hvrt.Layout;
using Hvrt.Platform;

namespace Hvrt.Slots;

/// <summary>
/// hvrt's own duplicates of private files: one per distinct file (st_dev, st_ino) per VM, shared
/// by every slot bound to it, so thousands of slots carved from one guest_memfd cost one fd, not
/// thousands (the fd limit is often 1024 soft, 20,000 hard on these hosts). KVM likewise holds one
/// file reference per binding, not an fd. The duplicate closes when the last slot using the file
/// is deleted, after the grace period (<see cref="Vm"/> queues it), or when the VM is destroyed.
/// While hvrt holds it, the inode stays alive, so (st_dev, st_ino) cannot be reused by another file.
/// </summary>
internal sealed class PrivateFiles
{
    private readonly Dictionary<(ulong Dev, ulong Ino), (int Fd, int Slots)> _files = new();

    /// <summary>hvrt's fd for the file behind callerFd (dup'd on first use), counting one more slot; or -errno.</summary>
    public int Acquire((ulong Dev, ulong Ino) file, int callerFd)
    {
        if (_files.TryGetValue(file, out (int Fd, int Slots) known))
        {
            _files[file] = (known.Fd, known.Slots + 1);
            return known.Fd;
        }
        int dup = Libc.DupCloexec(callerFd);
        if (dup < 0)
        {
            return dup == -Errno.EMFILE ? -Errno.EMFILE : -Errno.ENOMEM;
        }
        _files.Add(file, (dup, 1));
        return dup;
    }

    /// <summary>Closes hvrt's duplicate unless it was closed behind hvrt's back and the number reused for another file.</summary>
    public static void CloseIfStill(int fd, (ulong Dev, ulong Ino) file)
    {
        if (Libc.RefersTo(fd, file.Dev, file.Ino))
        {
            Libc.Close(fd);
        }
    }

    /// <summary>One slot fewer on the file; returns the fd to close (after the grace period) when it was the last, else -1.</summary>
    public int Release((ulong Dev, ulong Ino) file)
    {
        (int fd, int slots) = _files[file];
        if (slots > 1)
        {
            _files[file] = (fd, slots - 1);
            return -1;
        }
        _files.Remove(file);
        return fd;
    }

    public void CloseAll()
    {
        foreach (KeyValuePair<(ulong Dev, ulong Ino), (int Fd, int Slots)> f in _files)
        {
            CloseIfStill(f.Value.Fd, f.Key);
        }
        _files.Clear();
    }
}
