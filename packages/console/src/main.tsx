/** The console's entry: the app takes the place of the loading text of index.html. */
import { render } from 'preact';
import { App } from './app.js';
import './style.css';

const root = document.getElementById('app')!;
root.textContent = '';
render(<App />, root);
