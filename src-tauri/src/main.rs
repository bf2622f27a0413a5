// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    mixtune::alloc::keep_freed_memory();
    // Before the webview's threads start (it sets an environment variable).
    mixtune::device::pin_default_device();
    // WebKitGTK derives `navigator.language` from LANG; under the C/POSIX locale it reports
    // "C", which is not a BCP 47 tag, and `Intl.NumberFormat("C")` (used by uPlot) throws,
    // leaving a blank window. Fall back to a valid locale before the webview starts.
    #[cfg(target_os = "linux")]
    {
        let lang = std::env::var("LC_ALL")
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| std::env::var("LANG").ok())
            .unwrap_or_default();
        let base = lang.split('.').next().unwrap_or("");
        if base.is_empty() || base == "C" || base == "POSIX" {
            std::env::set_var("LANG", "en_US.UTF-8");
            std::env::remove_var("LC_ALL");
        }
    }
    mixtune_app::run();
}
