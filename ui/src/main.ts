import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { notices } from './lib/stores/notices.svelte';

// Anything that slipped past a page's own handling still reaches the error banner.
window.addEventListener('unhandledrejection', (event) => notices.error(event.reason));
window.addEventListener('error', (event) => notices.error(event.error ?? event.message));

const app = mount(App, { target: document.getElementById('app')! });

export default app;
